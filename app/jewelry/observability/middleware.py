"""Per-request metrics: duration by route, and every SQL statement's duration and count."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

from jewelry.observability import metrics


class _QueryTimer:
    """A Django execute_wrapper that times each statement of this request."""

    def __init__(self) -> None:
        self.durations: list[float] = []

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.durations.append(time.perf_counter() - start)


def route_of(request: HttpRequest) -> str:
    """The URL pattern, never the raw path: ids must not explode the label set."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return "unmatched"
    return "/" + match.route


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timer = _QueryTimer()
        start = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = self.get_response(request)
        elapsed = time.perf_counter() - start
        route = route_of(request)
        metrics.REQUEST_DURATION.labels(
            route=route, method=request.method or "", status=str(response.status_code)
        ).observe(elapsed)
        query_histogram = metrics.DB_QUERY_DURATION.labels(route=route)
        for duration in timer.durations:
            query_histogram.observe(duration)
        metrics.DB_QUERIES_PER_REQUEST.labels(route=route).observe(len(timer.durations))
        metrics.sample_memory()
        return response
