"""Observability of the lab: tracing, metrics and the durable trace archive."""
