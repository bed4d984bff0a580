"""muosm-perf: performance modelling and trace analysis of distributed systems."""

__version__ = "0.1.0"
