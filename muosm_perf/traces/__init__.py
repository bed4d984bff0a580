"""Trace readers (one module per format), a synthetic generator, a downloader."""
