"""Report data cached in Redis, one key per tenant, report and parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

from jewelry.core.tenancy import active_tenant_id
from jewelry.observability.metrics import record_cache

T = TypeVar("T")


def report_cache_key(report: str, params: str) -> str:
    # The tenant id comes first and from the active context, so one shop can never be served
    # another shop's figures whatever the parameters are.
    return f"tenant:{active_tenant_id()}:report:{report}:{params}"


def cached_report(report: str, params: str, compute: Callable[[], T]) -> T:
    key = report_cache_key(report, params)
    value = cache.get(key)
    record_cache("report", hit=value is not None)
    if value is None:
        value = compute()
        cache.set(key, value, settings.REPORT_CACHE_SECONDS)
    return value
