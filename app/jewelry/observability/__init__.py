"""Tracing (OpenTelemetry) and metrics (Prometheus) of the app: where a request's time goes."""
