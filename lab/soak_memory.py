"""Memory of a soak run: which process a series belongs to, and whether it leaks.

A process leaks when its memory keeps growing through the steady part of the run fast
enough to matter in practice:

- the 95 % CI of its least-squares slope (fitted to a dozen slice means, `lab.trend`)
  lies wholly above the threshold, and
- each half of the steady window grows faster than the threshold on its own, so one step
  (a cache filling once, a connection opened) is not a trend;

with the threshold `max(leak_min_bytes_per_hour, min(leak_min_relative_per_hour x the
process's steady level, headroom / leak_horizon_h))`: growth that would fill the
container's remaining memory within the horizon, or that adds more than the stated
share of the process's own size per hour, whichever is smaller.

Only the system under test and the load generator decide the verdict; the lab's own
infrastructure (exporters, Prometheus, the trace archive) is shown, never judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lab import trend
from lab.prometheus import Series

SYSTEM_UNDER_TEST = "system under test"
LOAD_GENERATOR = "load generator"
INFRASTRUCTURE = "lab infrastructure"
ROLES = (SYSTEM_UNDER_TEST, LOAD_GENERATOR, INFRASTRUCTURE)
DECIDING_ROLES = frozenset({SYSTEM_UNDER_TEST, LOAD_GENERATOR})

# Every process series Prometheus can give: app workers (one per pid), Redis's own memory,
# and any process that exports process_resident_memory_bytes (Locust, exporters, Prometheus,
# the trace archive). PostgreSQL and PgBouncer publish no memory of their own.
MEMORY_QUERIES = (
    "jewelry_worker_resident_memory_bytes",
    "redis_memory_used_bytes",
    "process_resident_memory_bytes",
)
# Prometheus job names (observability/prometheus/prometheus.yml) of the load generator and of
# the app; any other job exporting process memory is lab infrastructure.
LOAD_GENERATOR_JOBS = frozenset({"locust"})
APP_JOBS = frozenset({"app"})
MIB = 1024 * 1024


@dataclass(frozen=True)
class Process:
    name: str
    role: str
    container: str | None  # Compose service whose memory limit applies, when known


def classify(series: Series) -> Process:
    labels = series.labels
    metric, job = labels.get("__name__", ""), labels.get("job", "")
    if metric == "jewelry_worker_resident_memory_bytes":
        return Process(f"app worker pid {labels.get('pid', '?')}", SYSTEM_UNDER_TEST, "app")
    if metric == "redis_memory_used_bytes":
        return Process("Redis (used memory)", SYSTEM_UNDER_TEST, "redis")
    instance = labels.get("instance", "")
    where = f"{job or 'process'} {instance}".strip()
    if job in LOAD_GENERATOR_JOBS:
        return Process(f"{where} (Locust process)", LOAD_GENERATOR, "locust")
    if job in APP_JOBS:
        return Process(f"{where} (app process)", SYSTEM_UNDER_TEST, "app")
    return Process(f"{where} (process)", INFRASTRUCTURE, None)


@dataclass(frozen=True)
class LeakRule:
    relative_per_hour: float  # share of the steady level
    min_bytes_per_hour: float  # floor: below this no process leaks
    horizon_h: float  # growth filling the headroom within this many hours leaks

    def threshold(self, level: float, headroom: float | None) -> tuple[float, str]:
        """Bytes per hour above which growth is a leak, and why that number."""
        relative = self.relative_per_hour * level
        why = f"{self.relative_per_hour:.0%} of {level / MIB:.0f} MiB per hour"
        value = relative
        if headroom is not None:
            filling = max(headroom, 0.0) / self.horizon_h
            if filling < value:
                value = filling
                why = (
                    f"fills the {headroom / MIB:.0f} MiB left below the limit "
                    f"in {self.horizon_h:g} h"
                )
        if value < self.min_bytes_per_hour:
            return self.min_bytes_per_hour, f"floor {self.min_bytes_per_hour / MIB:g} MiB/h"
        return value, why


@dataclass(frozen=True)
class MemoryTrend:
    process: str
    role: str
    points: int
    level_bytes: float  # mean over the steady window
    last_bytes: float
    slope_per_hour: float
    ci_per_hour: tuple[float, float]
    half_slopes_per_hour: tuple[float, float]
    threshold_per_hour: float
    threshold_reason: str
    hours_to_limit: float | None = None

    @property
    def growing(self) -> bool:
        """Growth the rule calls a leak, whatever the role."""
        return self.ci_per_hour[0] > self.threshold_per_hour and all(
            h > self.threshold_per_hour for h in self.half_slopes_per_hour
        )

    @property
    def leaking(self) -> bool:
        return self.growing and self.role in DECIDING_ROLES

    def line(self) -> str:
        lo, hi = (v / MIB for v in self.ci_per_hour)
        first, second = (v / MIB for v in self.half_slopes_per_hour)
        text = (
            f"{self.process}: {self.slope_per_hour / MIB:+.2f} MiB/h "
            f"(95% CI {lo:+.2f} to {hi:+.2f}; halves {first:+.1f}, {second:+.1f}), "
            f"level {self.level_bytes / MIB:.0f} MiB, "
            f"threshold {self.threshold_per_hour / MIB:.2f} MiB/h ({self.threshold_reason})"
        )
        if self.hours_to_limit is not None:
            text += f", limit reached in {self.hours_to_limit:.1f} h"
        if self.leaking:
            return text + " LEAK"
        if self.growing:
            return text + " (grows, but lab infrastructure does not decide)"
        return text


def judge(
    process: Process,
    points: Sequence[tuple[float, float]],
    rule: LeakRule,
    headroom: float | None,
) -> MemoryTrend | None:
    """`points` are (hours since the steady window began, bytes); None below 6 points."""
    if len(points) < 6:
        return None
    fitted = trend.fit_binned(points)
    middle = len(points) // 2
    halves = (trend.fit(points[:middle]), trend.fit(points[middle:]))
    if fitted is None or None in halves:
        return None
    level = sum(v for _, v in points) / len(points)
    threshold, why = rule.threshold(level, headroom)
    to_limit = None
    if headroom is not None and fitted.slope > 0:
        to_limit = max(headroom, 0.0) / fitted.slope
    return MemoryTrend(
        process=process.name,
        role=process.role,
        points=len(points),
        level_bytes=level,
        last_bytes=points[-1][1],
        slope_per_hour=fitted.slope,
        ci_per_hour=fitted.ci95,
        half_slopes_per_hour=(halves[0].slope, halves[1].slope),  # type: ignore[union-attr]
        threshold_per_hour=threshold,
        threshold_reason=why,
        hours_to_limit=to_limit,
    )
