"""Fixtures shared by the app's tests (tests/app/**)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Every test starts with an empty Redis cache: sessions, throttle counters, cached stats.

    Tests share one Redis per harness run, so a login failure counted or a statistic cached
    by one test must not leak into the next.
    """
    cache.clear()
    yield
    cache.clear()
