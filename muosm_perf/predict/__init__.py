"""Predictions: kernel inputs built from canonical tables, run, returned as tables."""
