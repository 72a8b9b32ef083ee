"""Per-tenant Redis caching of computed figures, counted as hits and misses in /metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

from jewelry.core.tenancy import active_tenant_id
from jewelry.observability.metrics import record_cache

T = TypeVar("T")


def tenant_cached(cache_name: str, key: str, timeout: int, compute: Callable[[], T]) -> T:
    """`compute()` once per `timeout` seconds for the active tenant, under `tenant:<id>:<key>`.

    The tenant id comes first and from the active context, so one shop can never be served
    another shop's figures whatever the rest of the key is.
    """
    full_key = f"tenant:{active_tenant_id()}:{key}"
    value = cache.get(full_key)
    record_cache(cache_name, hit=value is not None)
    if value is None:
        value = compute()
        cache.set(full_key, value, timeout)
    return value
