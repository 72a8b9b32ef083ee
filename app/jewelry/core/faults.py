"""Deliberate defects switched on by LAB_FAULTS, so the lab's analysis can be validated."""

from __future__ import annotations

from django.conf import settings

# tenant_leak is the only fault that breaks correctness, not speed: it exists so the load
# tests' tenant checks can be shown to catch a real leak (tests/locust/test_tenant_leak.py).
# assets_uncached serves static files uncompressed and without any caching headers
# (jewelry/core/assets.py): the browser scenario's asset findings must catch it.
KNOWN_FAULTS = frozenset(
    {"n_plus_one", "slow_search", "cache_off", "leak", "tenant_leak", "assets_uncached", "stall"}
)


def enabled(name: str) -> bool:
    if name not in KNOWN_FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(KNOWN_FAULTS))}")
    return name in settings.LAB_FAULTS
