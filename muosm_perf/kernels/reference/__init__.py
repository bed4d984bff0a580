"""Slow, plainly written references of the kernels, for tests to compare against."""
