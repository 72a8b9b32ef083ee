"""Locust scenarios, load shapes, tracing and the exact per-request record.

Run with `locust -f locustfiles/`: Locust loads every module here whose name
does not start with `_`; the helpers (`_*.py`) are imported by those modules as
`locustfiles._name`, so the repository root must be on `sys.path` (Locust adds
the working directory, and the Makefile, images and tests set PYTHONPATH).
"""
