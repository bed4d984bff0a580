"""Descriptive statistics of canonical tables, written as Polars expressions."""
