"""Tail sampling of traces: the knobs and the one ratio rule Locust and the archive share.

Head sampling at a ratio makes the slowest requests the least likely to have a trace. With
tail sampling (LAB_TRACE_TAIL=1, the default) Locust traces every task (so the app, which
follows Locust, traces every request) and, when a task ends, exports its own spans only when
the task is *kept*: one of its requests failed, was slower than its request name's running
quantile (LAB_TRACE_SLOW_QUANTILE), entered that name's slowest LAB_TRACE_KEEP_SLOWEST so
far, or its trace id falls in the ratio (LAB_TRACE_SAMPLE_RATIO, the rule of OpenTelemetry's
TraceIdRatioBased). The trace archive writes a span at once when its trace id is in the
ratio or its trace has a Locust span; other spans wait, bounded in time
(LAB_ARCHIVE_TAIL_HOLD_SECONDS) and bytes (LAB_ARCHIVE_TAIL_MAX_BYTES), for a Locust span
of their trace, and are dropped by the policy when none comes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TAIL_ENV = "LAB_TRACE_TAIL"
SLOW_QUANTILE_ENV = "LAB_TRACE_SLOW_QUANTILE"
KEEP_SLOWEST_ENV = "LAB_TRACE_KEEP_SLOWEST"
RATIO_ENV = "LAB_TRACE_SAMPLE_RATIO"
HOLD_SECONDS_ENV = "LAB_ARCHIVE_TAIL_HOLD_SECONDS"
MAX_BYTES_ENV = "LAB_ARCHIVE_TAIL_MAX_BYTES"

DEFAULT_TAIL = True
DEFAULT_RATIO = 0.1
DEFAULT_SLOW_QUANTILE = 0.9
# The report's "slowest requests traced" counts the top 10 per request name: a request that
# enters its name's slowest 10 so far is kept, so every one of the final top 10 was kept.
DEFAULT_KEEP_SLOWEST = 10
# Longer than a task (a workflow's few requests) plus both exporters' batch delays (the
# app's BatchSpanProcessor waits up to 5 s, Locust's queue 1 s).
DEFAULT_HOLD_SECONDS = 60.0
# A minute of a 100 request/s run at ~10 app spans of ~0.5 KiB per request is ~30 MiB.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# Requests of a name seen before its running quantile is trusted; until then all are kept.
MIN_REQUESTS_FOR_QUANTILE = 20

_TRACE_ID_LIMIT = (1 << 64) - 1


class SamplingSettingError(ValueError):
    """A LAB_TRACE_* / LAB_ARCHIVE_TAIL_* variable has a value that cannot be used."""


def ratio_bound(ratio: float) -> int:
    """TraceIdRatioBased's bound (opentelemetry-sdk `sampling.py`: round(rate * 2**64))."""
    return round(ratio * (_TRACE_ID_LIMIT + 1))


def in_ratio(trace_id_low64: int, bound: int) -> bool:
    """TraceIdRatioBased's rule on the trace id's low 64 bits."""
    return (trace_id_low64 & _TRACE_ID_LIMIT) < bound


def _read(environ: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SamplingSettingError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise SamplingSettingError(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


def tail_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(TAIL_ENV, "").strip().lower()
    if not raw:
        return DEFAULT_TAIL
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SamplingSettingError(f"{TAIL_ENV}={raw!r} must be 1 or 0")


def sample_ratio(environ: Mapping[str, str] = os.environ) -> float:
    return _read(environ, RATIO_ENV, DEFAULT_RATIO, 0.0, 1.0)


def slow_quantile(environ: Mapping[str, str] = os.environ) -> float:
    return _read(environ, SLOW_QUANTILE_ENV, DEFAULT_SLOW_QUANTILE, 0.0, 1.0)


def keep_slowest(environ: Mapping[str, str] = os.environ) -> int:
    return int(_read(environ, KEEP_SLOWEST_ENV, DEFAULT_KEEP_SLOWEST, 0, 10_000))


def hold_seconds(environ: Mapping[str, str] = os.environ) -> float:
    return _read(environ, HOLD_SECONDS_ENV, DEFAULT_HOLD_SECONDS, 0.1, 3600.0)


def max_bytes(environ: Mapping[str, str] = os.environ) -> int:
    return int(_read(environ, MAX_BYTES_ENV, DEFAULT_MAX_BYTES, 0, 1 << 40))
