"""Deliberate defects switched on by LAB_FAULTS, so the lab's analysis can be validated."""

from __future__ import annotations

from django.conf import settings

KNOWN_FAULTS = frozenset({"n_plus_one", "slow_search", "cache_off", "leak"})


def enabled(name: str) -> bool:
    if name not in KNOWN_FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(KNOWN_FAULTS))}")
    return name in settings.LAB_FAULTS
