"""Slow, plainly written references of the kernels, for tests and oracles."""
