"""The app's 500 handler: a database that cannot be reached is a fast, counted 503.

Django calls `handler500` for an exception raised anywhere in the request (a middleware's
session or tenant lookup as well as a view), while the exception is still being handled. When
that exception is the database being unreachable (PostgreSQL restarting, PgBouncer down), the
client gets `503` with `Retry-After` and a one-line reason (JSON under /api/) instead of an
opaque 500, and `jewelry_dependency_errors_total{dependency="database"}` counts it. Nothing
waits or retries here: Django opens a fresh connection on the next request
(CONN_HEALTH_CHECKS), so the app serves again as soon as the database does.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from jewelry.observability.metrics import record_dependency_error

DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = "database unavailable"


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if not isinstance(error, OperationalError | InterfaceError):
        return defaults.server_error(request)
    record_dependency_error("database", "request")
    reason = f"{DATABASE_UNAVAILABLE} ({type(error).__name__})"
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": reason}, status=503)
    else:
        response = HttpResponse(reason + "\n", status=503, content_type="text/plain")
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response
