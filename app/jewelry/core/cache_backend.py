"""Django's Redis cache, made optional: when Redis is down the app goes on without it.

Everything the app keeps in Redis can be done without it for a while:

- cached figures (dashboard, reports) are computed again: `get` answers a miss, `set` is a no-op;
- sessions use the `cached_db` engine, so the database copy serves them (`jewelry.core.sessions`);
- login throttling fails OPEN: counters read as zero and are not written (see
  `jewelry.tenants.throttle` for why), so people can still sign in.

Each swallowed error is counted in `jewelry_dependency_errors_total{dependency="redis"}` and
logged (at most once per `_LOG_EVERY_S` per process, so an outage does not flood the log).
Short socket timeouts (settings: REDIS_TIMEOUT_SECONDS) bound what one request can lose to an
unreachable Redis. `probe()` is the one call that still raises: /healthz must tell the truth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

from jewelry.observability.metrics import record_dependency_error

logger = logging.getLogger(__name__)

T = TypeVar("T")
_LOG_EVERY_S = 10.0
_last_logged = 0.0


def _degraded(operation: str, error: Exception) -> None:
    global _last_logged
    record_dependency_error("redis", operation)
    now = time.monotonic()
    if now - _last_logged >= _LOG_EVERY_S:
        _last_logged = now
        logger.warning("Redis unavailable, cache %s bypassed: %s", operation, error)


class DegradingRedisCache(RedisCache):
    """RedisCache whose operations answer "not cached" instead of raising when Redis is down."""

    def _or(self, operation: str, fallback: T, call: Callable[[], T]) -> T:
        try:
            return call()
        except RedisError as error:
            _degraded(operation, error)
            return fallback

    def probe(self) -> None:
        """One real round trip that raises when Redis is unreachable (for /healthz)."""
        super().get("healthz")

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._or("get", default, lambda: RedisCache.get(self, key, default, version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[str, Any]:
        return self._or("get_many", {}, lambda: RedisCache.get_many(self, keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._or("has_key", False, lambda: RedisCache.has_key(self, key, version))

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        self._or("set", None, lambda: RedisCache.set(self, key, value, timeout, version))

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self._or("add", False, lambda: RedisCache.add(self, key, value, timeout, version))

    def set_many(
        self, data: dict[str, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[str]:
        return self._or(
            "set_many", list(data), lambda: RedisCache.set_many(self, data, timeout, version)
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._or("touch", False, lambda: RedisCache.touch(self, key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._or("delete", False, lambda: RedisCache.delete(self, key, version))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._or("delete_many", None, lambda: RedisCache.delete_many(self, keys, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except RedisError as error:
            _degraded("incr", error)
            # What Django's API says for a key that is not there: callers already handle it.
            raise ValueError(f"Key {key!r} not found (Redis unavailable)") from error

    def clear(self) -> None:
        self._or("clear", None, lambda: RedisCache.clear(self))
