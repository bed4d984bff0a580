"""Numba kernels: plain functions over NumPy arrays, with no Polars and no I/O."""
