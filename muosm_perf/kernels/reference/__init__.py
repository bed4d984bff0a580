"""Slow, obviously correct pure-Python versions of the kernels, for tests."""
