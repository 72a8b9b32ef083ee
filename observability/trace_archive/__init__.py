"""Durable trace archive: an OTLP/HTTP receiver that writes every span to its run's folder.

Spans arrive over OTLP/HTTP (protobuf or JSON), are queued without blocking the
sender, converted to rows of the span archive schema (docs/architecture.md) and
written as Parquet parts to ``runs/<run_id>/spans/`` (``runs/_unassigned/spans/``
for spans without a ``lab.run_id``). Run it with ``python -m observability.trace_archive``.
"""
