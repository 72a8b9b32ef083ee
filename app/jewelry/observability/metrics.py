"""Prometheus metrics of the app, correct under gunicorn's several worker processes.

prometheus_client picks its multiprocess value store when it is first imported, from
PROMETHEUS_MULTIPROC_DIR: gunicorn.conf.py sets that before any worker imports this module.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Bucket boundaries sit on the targets: 500 ms (API), 2 s (pages), 100 ms (one query).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
QUERIES_PER_REQUEST_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144)

REQUEST_DURATION = Histogram(
    "jewelry_http_request_duration_seconds",
    "Time from the request entering Django to the response leaving it, by URL pattern.",
    ["route", "method", "status"],
    buckets=REQUEST_BUCKETS,
)
DB_QUERY_DURATION = Histogram(
    "jewelry_db_query_duration_seconds",
    "Duration of each SQL statement, as seen by the app (PgBouncer wait included), by route.",
    ["route"],
    buckets=QUERY_BUCKETS,
)
DB_QUERIES_PER_REQUEST = Histogram(
    "jewelry_db_queries_per_request",
    "Number of SQL statements one request made, by route.",
    ["route"],
    buckets=QUERIES_PER_REQUEST_BUCKETS,
)
CACHE_REQUESTS = Counter(
    "jewelry_cache_requests",
    "Lookups of the app's Redis caches by outcome.",
    ["cache", "result"],
)
WORKER_RSS = Gauge(
    "jewelry_worker_resident_memory_bytes",
    "Resident memory of this worker process (one series per live pid).",
    multiprocess_mode="liveall",
)
DEPENDENCY_ERRORS = Counter(
    "jewelry_dependency_errors",
    "Operations that failed because a dependency was down, by dependency and outcome "
    "(redis: the cache was bypassed; database: the request was answered 503).",
    ["dependency", "operation"],
)
SPANS_EXPORTED = Counter("jewelry_spans_exported", "Spans the app exported.")
SPANS_DROPPED = Counter(
    "jewelry_spans_dropped", "Spans the app could not export, by reason.", ["reason"]
)
# Present at 0 from the start: Prometheus' increase() misses what a series starts with.
for _reason in ("export_failed", "queue_full"):
    SPANS_DROPPED.labels(reason=_reason)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MEMORY_SAMPLE_SECONDS = 5.0
_last_memory_sample = 0.0


def record_cache(cache: str, *, hit: bool) -> None:
    CACHE_REQUESTS.labels(cache=cache, result="hit" if hit else "miss").inc()


def record_dependency_error(dependency: str, operation: str) -> None:
    DEPENDENCY_ERRORS.labels(dependency=dependency, operation=operation).inc()


def sample_memory(now: float | None = None) -> None:
    """Refresh this worker's RSS gauge at most every few seconds (it costs a /proc read)."""
    global _last_memory_sample
    now = time.monotonic() if now is None else now
    if now - _last_memory_sample < _MEMORY_SAMPLE_SECONDS:
        return
    _last_memory_sample = now
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return
    WORKER_RSS.set(resident_pages * _PAGE_SIZE)


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
