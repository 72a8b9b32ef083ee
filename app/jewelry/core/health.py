"""/healthz: one cheap round-trip each to PostgreSQL (through PgBouncer) and Redis."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    problems: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means unhealthy; the reason goes to the body
        problems["database"] = type(exc).__name__
    try:
        # The app's cache answers "not cached" when Redis is down; its probe still raises.
        probe = getattr(cache, "probe", None)
        if probe is not None:
            probe()
        else:
            cache.get("healthz")
    except Exception as exc:
        problems["redis"] = type(exc).__name__
    if problems:
        return JsonResponse({"status": "unavailable", "problems": problems}, status=503)
    return JsonResponse({"status": "ok"})
