"""Matplotlib figures and HTML and Markdown reports."""
