"""Metrics, error reporting and tracing: each off or local by default, on by one setting."""
