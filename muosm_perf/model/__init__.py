"""Lifecycle enums, canonical table schemas and the trace store."""
