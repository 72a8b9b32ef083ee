"""`lab soak-verdict RUN`: memory leaks and drift over a long run.

Memory: one least-squares slope per process series from Prometheus, with a 95 %
CI; a process leaks when the whole CI lies above a growth floor (samples of a
slowly varying series are autocorrelated, so the floor, not significance alone,
keeps a flat process from "leaking" by a few bytes per hour). Latency and error
drift come from the per-request record (first vs last fifth, or first vs last
hour for runs of five hours or more); PgBouncer client wait drift from Prometheus.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import trend
from lab.bootstrap import compare_quantile
from lab.contract import RunFolder
from lab.errors import EXIT_BREACH, EXIT_OK, LabError
from lab.prometheus import Prometheus, PrometheusUnavailable, Series, range_step
from lab.rundata import open_run
from lab.runs_dir import read_json
from lab.targets import Targets
from lab.window import run_window

# Process memory series: app workers, Locust, Redis, and any exporter/process that
# publishes process_resident_memory_bytes (Prometheus itself excluded: its head grows).
MEMORY_QUERIES = (
    "jewelry_worker_resident_memory_bytes",
    'process_resident_memory_bytes{job!="prometheus"}',
    "redis_memory_used_bytes",
)
PGBOUNCER_WAIT_QUERY = "max(pgbouncer_pools_client_maxwait_seconds)"
_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMGT]?)(i?)B?\s*$", re.IGNORECASE)


def parse_size(text: str) -> float:
    """'512MiB', '1GiB', '512m' (Docker style), '1048576' -> bytes; units are binary."""
    match = _SIZE.match(text)
    if not match:
        raise LabError(f"memory size {text!r}: expected e.g. 512MiB, 1GiB or a byte count")
    number, unit, _ = match.groups()
    return float(number) * 1024 ** " KMGT".index(unit.upper() or " ")


@dataclass(frozen=True)
class MemoryTrend:
    process: str
    points: int
    mean_bytes: float
    last_bytes: float
    slope_per_hour: float
    ci_per_hour: tuple[float, float]
    floor_per_hour: float
    limit_bytes: float | None

    @property
    def leaking(self) -> bool:
        return self.ci_per_hour[0] > self.floor_per_hour

    @property
    def hours_to_limit(self) -> float | None:
        if self.limit_bytes is None or self.slope_per_hour <= 0:
            return None
        return max(0.0, (self.limit_bytes - self.last_bytes) / self.slope_per_hour)

    def line(self) -> str:
        mib = 1024 * 1024
        lo, hi = (v / mib for v in self.ci_per_hour)
        text = (
            f"{self.process}: {self.slope_per_hour / mib:+.2f} MiB/h "
            f"(95% CI {lo:+.2f} to {hi:+.2f}), "
            f"now {self.last_bytes / mib:.0f} MiB"
        )
        if self.hours_to_limit is not None:
            text += f", limit reached in {self.hours_to_limit:.1f} h"
        return text + (" LEAK" if self.leaking else "")


@dataclass(frozen=True)
class Drift:
    label: str
    first: float
    last: float
    degraded: bool
    detail: str


@dataclass
class SoakVerdict:
    run_id: str
    window: tuple[float, float]
    memory: list[MemoryTrend] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        leaks = [f"memory leak: {m.line()}" for m in self.memory if m.leaking]
        return leaks + [f"{d.label} degrades: {d.detail}" for d in self.drifts if d.degraded]

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        if self.passed:
            return f"PASS: no leak in {len(self.memory)} process series, no drift"
        return "FAIL: " + "; ".join(self.problems)

    def text(self) -> str:
        lines = [f"soak verdict for {self.run_id}: {self.summary_line()}", "memory:"]
        lines += [f"  {m.line()}" for m in self.memory] or ["  no memory series found"]
        lines.append("drift:")
        lines += [
            f"  {d.label}: {d.detail}{' DEGRADED' if d.degraded else ''}" for d in self.drifts
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _process_name(series: Series) -> str:
    return series.label_text()


def memory_trends(
    prom: Prometheus, start: float, end: float, targets: Targets, limit: float | None
) -> tuple[list[MemoryTrend], list[str]]:
    step = range_step(start, end)
    trends, notes = [], []
    for query in MEMORY_QUERIES:
        try:
            found = prom.range(query, start, end, step)
        except PrometheusUnavailable as exc:
            if "unreachable" in exc.message:
                raise
            notes.append(f"{query}: {exc.message}")
            continue
        for series in found:
            points = [((t - start) / 3600.0, v) for t, v in series.points]
            fitted = trend.fit(points)
            if fitted is None:
                notes.append(f"{_process_name(series)}: too few points for a trend")
                continue
            mean = sum(v for _, v in points) / len(points)
            floor = max(targets.leak_min_bytes_per_hour, targets.leak_min_relative_per_hour * mean)
            trends.append(
                MemoryTrend(
                    process=_process_name(series),
                    points=len(points),
                    mean_bytes=mean,
                    last_bytes=points[-1][1],
                    slope_per_hour=fitted.slope,
                    ci_per_hour=fitted.ci95,
                    floor_per_hour=floor,
                    limit_bytes=limit,
                )
            )
    return trends, notes


def _segments(start: float, end: float) -> tuple[tuple[float, float], tuple[float, float], str]:
    """First and last segment: an hour each for runs of 5 h or more, else a fifth."""
    length = 3600.0 if end - start >= 5 * 3600 else (end - start) / 5
    label = "first vs last hour" if length == 3600.0 else "first vs last fifth"
    return (start, start + length), (end - length, end), label


def record_drifts(
    run_dir: Path, start: float, end: float, targets: Targets
) -> tuple[list[Drift], list[str]]:
    data = open_run(run_dir, with_spans=False, warn=False)
    con = data.con
    first, last, label = _segments(start, end)
    samples, counts = [], []
    for lo, hi in (first, last):
        rows = con.execute(
            "SELECT response_time_us, failure IS NOT NULL FROM requests "
            "WHERE ts_start_us >= ? AND ts_start_us < ? ORDER BY response_time_us",
            [int(lo * 1e6), int(hi * 1e6)],
        ).fetchall()
        samples.append([r[0] for r in rows])
        counts.append((len(rows), sum(1 for r in rows if r[1])))
    con.close()
    if min(len(s) for s in samples) < 30:
        return [], [f"latency and error drift: too few requests in the {label} windows"]
    est = compare_quantile(samples[0], samples[1], 0.95, seed=7)
    latency = Drift(
        "latency p95",
        est.baseline / 1000,
        est.candidate / 1000,
        est.significant and est.ratio > targets.latency_drift_max_ratio,
        f"{label}: {est.baseline / 1000:.1f} -> {est.candidate / 1000:.1f} ms ({est.verdict()}, "
        f"limit {targets.latency_drift_max_ratio:.2f}x)",
    )
    ratios = [f / n for n, f in counts]
    errors = Drift(
        "failure ratio",
        ratios[0],
        ratios[1],
        ratios[1] - ratios[0] > targets.error_drift_max_points,
        f"{label}: {ratios[0]:.2%} -> {ratios[1]:.2%} "
        f"(limit +{targets.error_drift_max_points:.0%})",
    )
    return [latency, errors], []


def pgbouncer_drift(
    prom: Prometheus, start: float, end: float, targets: Targets
) -> tuple[list[Drift], list[str]]:
    found = prom.range(PGBOUNCER_WAIT_QUERY, start, end, range_step(start, end))
    if not found or not found[0].points:
        return [], ["PgBouncer client wait: no data in Prometheus for this window"]
    first, last, label = _segments(start, end)
    pts = found[0].points

    def mean_in(lo: float, hi: float) -> float | None:
        values = [v for t, v in pts if lo <= t <= hi]
        return sum(values) / len(values) if values else None

    a, b = mean_in(*first), mean_in(*last)
    if a is None or b is None:
        return [], ["PgBouncer client wait: no data at the start or end of the run"]
    return [
        Drift(
            "PgBouncer client wait",
            a,
            b,
            b - a > targets.pgbouncer_wait_drift_max_s,
            f"{label}: {a * 1000:.1f} -> {b * 1000:.1f} ms "
            f"(limit +{targets.pgbouncer_wait_drift_max_s * 1000:.0f} ms)",
        )
    ], []


def _limit_from_meta(meta: dict[str, Any]) -> float | None:
    limits = meta.get("limits") or {}
    value = limits.get("app_memory") if isinstance(limits, dict) else None
    try:
        return parse_size(str(value)) if value else None
    except LabError:
        return None


def verdict_for_run(
    run_dir: Path,
    prom: Prometheus,
    targets: Targets,
    memory_limit: str | None = None,
    *,
    warn: bool = True,
    tolerate_unreachable: bool = False,
) -> SoakVerdict:
    meta = read_json(RunFolder(run_dir).meta) or {}
    data = open_run(run_dir, with_spans=False, warn=warn)
    window_us = data.con.execute(
        "SELECT min(ts_start_us), max(ts_start_us) FROM requests"
    ).fetchone()
    data.con.close()
    start, end = run_window(meta, (int(window_us[0] or 0), int(window_us[1] or 0)))
    verdict = SoakVerdict(run_dir.name, (start, end))
    limit = parse_size(memory_limit) if memory_limit else _limit_from_meta(meta)
    try:
        prom.ready()
        verdict.memory, notes = memory_trends(prom, start, end, targets, limit)
        verdict.notes += notes
        drifts, notes = pgbouncer_drift(prom, start, end, targets)
        verdict.drifts += drifts
        verdict.notes += notes
    except PrometheusUnavailable as exc:
        if not tolerate_unreachable:
            raise
        verdict.notes.append(f"could not fetch memory and PgBouncer series: {exc.message}")
    drifts, notes = record_drifts(run_dir, start, end, targets)
    verdict.drifts = drifts + verdict.drifts
    verdict.notes += notes
    if limit is None:
        verdict.notes.append(
            "no memory limit known (pass --memory-limit): time to exhaustion not projected"
        )
    return verdict


def run_soak_verdict(
    run_dir: Path, prometheus_url: str, targets: Targets, memory_limit: str | None
) -> int:
    verdict = verdict_for_run(run_dir, Prometheus(prometheus_url), targets, memory_limit)
    print(verdict.text())
    if not verdict.memory:
        print("warning: no memory series in Prometheus for this run's window", file=sys.stderr)
    return EXIT_OK if verdict.passed else EXIT_BREACH
