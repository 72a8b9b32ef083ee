"""A run's time window, from meta.json, falling back to the records themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def parse_time(value: Any) -> float | None:
    """Unix seconds from an ISO-8601 string (or a number), None when absent or malformed."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def run_window(meta: dict[str, Any] | None, records_us: tuple[int, int]) -> tuple[float, float]:
    """(start, end) in Unix seconds; the records decide when meta lacks either end."""
    meta = meta or {}
    start = parse_time(meta.get("started_at"))
    end = parse_time(meta.get("ended_at"))
    first, last = records_us
    if start is None:
        start = first / 1e6 if first else 0.0
    if end is None or end <= start:
        end = last / 1e6 if last else start + 1.0
    return start, max(end, start + 1.0)
