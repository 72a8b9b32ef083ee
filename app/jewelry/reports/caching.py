"""Report data cached in Redis, one key per tenant, report and parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from jewelry.core.caching import tenant_cached

T = TypeVar("T")


def cached_report(report: str, params: str, compute: Callable[[], T]) -> T:
    return tenant_cached(
        "report", f"report:{report}:{params}", settings.REPORT_CACHE_SECONDS, compute
    )
