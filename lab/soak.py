"""`lab soak-verdict RUN`: memory leaks and drift over a long run, right both ways.

The warm-up (at least `soak_warmup_s`, and until Locust reached its full user count) is left
out; a steady part shorter than `soak_min_steady_s` is "too short to judge" (exit 0), never a
leak. Memory: one trend per process series from Prometheus, judged by `lab.soak_memory`
(practical threshold with a CI; system under test and load generator decide, lab
infrastructure is shown only). Latency and error drift come from the per-request record
(first vs last fifth of the steady part, or first vs last hour when it lasts five hours or
more); PgBouncer client wait drift from Prometheus.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.contract import RunFolder
from lab.errors import EXIT_BREACH, EXIT_OK, LabError
from lab.meta import REPO_ROOT
from lab.prometheus import Prometheus, PrometheusUnavailable, range_step
from lab.request_stats import users_series
from lab.resample import compare_quantile
from lab.rundata import open_run
from lab.runs_dir import read_json
from lab.soak_memory import (
    DECIDING_ROLES,
    MEMORY_QUERIES,
    ROLES,
    LeakRule,
    MemoryTrend,
    classify,
    judge,
)
from lab.targets import Targets
from lab.window import run_window

# Mean client wait per pooled transaction, from PgBouncer's microsecond counters (SHOW STATS
# total_wait_time / total_xact_count). Not pgbouncer_pools_client_maxwait_seconds: the default
# image's exporter (pgbouncer_exporter v0.10.2, collector.go) publishes maxwait in whole
# seconds only, so a drift below one second would read 0 there and not offline.
PGBOUNCER_WAIT_QUERY = (
    "sum(rate(pgbouncer_stats_client_wait_seconds_total[5m]))"
    " / sum(rate(pgbouncer_stats_sql_transactions_pooled_total[5m]))"
)
# App memory is refreshed at most every 5 s (jewelry.observability.metrics): finer steps
# would only repeat points.
MEMORY_STEP_MIN_S = 5.0
COMPOSE_FILE = REPO_ROOT / "docker-compose.perf.yml"
_SIZE = re.compile(r"^\s*([\d.]+)\s*([KMGT]?)(i?)B?\s*$", re.IGNORECASE)
_COMPOSE_MEM_DEFAULT = re.compile(r"\$\{LAB_(\w+?)_MEM:-(\w+)\}")

TOO_SHORT = "TOO SHORT TO JUDGE"


def parse_size(text: str) -> float:
    """'512MiB', '1GiB', '512m' (Docker style), '1048576' -> bytes; units are binary."""
    match = _SIZE.match(text)
    if not match:
        raise LabError(f"memory size {text!r}: expected e.g. 512MiB, 1GiB or a byte count")
    number, unit, _ = match.groups()
    return float(number) * 1024 ** " KMGT".index(unit.upper() or " ")


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
    steady: tuple[float, float]
    too_short: str | None = None  # why the steady part cannot be judged
    memory: list[MemoryTrend] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        if self.too_short:
            return []
        leaks = [f"memory leak: {m.line()}" for m in self.memory if m.leaking]
        return leaks + [f"{d.label} degrades: {d.detail}" for d in self.drifts if d.degraded]

    @property
    def status(self) -> str:
        if self.too_short:
            return TOO_SHORT
        return "FAIL" if self.problems else "PASS"

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        if self.too_short:
            return f"{TOO_SHORT}: {self.too_short}"
        if self.passed:
            judged = sum(1 for m in self.memory if m.role in DECIDING_ROLES)
            return f"PASS: no leak in {judged} judged process series, no drift"
        return "FAIL: " + "; ".join(self.problems)

    def text(self) -> str:
        warm = self.steady[0] - self.window[0]
        steady = self.steady[1] - self.steady[0]
        lines = [
            f"soak verdict for {self.run_id}: {self.summary_line()}",
            f"window: {warm:.0f} s warm-up left out, {steady:.0f} s steady judged",
        ]
        if not self.too_short:
            for role in ROLES:
                decides = "decides" if role in DECIDING_ROLES else "shown, never decides"
                lines.append(f"memory, {role} ({decides}):")
                found = [m for m in self.memory if m.role == role]
                lines += [f"  {m.line()}" for m in found] or ["  no series"]
            lines.append("drift:")
            lines += [
                f"  {d.label}: {d.detail}{' DEGRADED' if d.degraded else ''}" for d in self.drifts
            ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def container_limits(
    meta: dict[str, Any], memory_limit: str | None, compose_file: Path = COMPOSE_FILE
) -> dict[str, float]:
    """Memory limit per Compose service: meta.json's, then Compose's defaults (compose runs),
    and `--memory-limit` for the app."""
    limits: dict[str, float] = {}
    if meta.get("mode") == "compose" and compose_file.is_file():
        text = compose_file.read_text(encoding="utf-8")
        for service, size in _COMPOSE_MEM_DEFAULT.findall(text):
            limits[service.lower()] = parse_size(size)
    recorded = meta.get("limits")
    if isinstance(recorded, dict):
        for service, values in recorded.items():
            size = values.get("memory") if isinstance(values, dict) else None
            try:
                if size:
                    limits[str(service)] = parse_size(str(size))
            except LabError:
                continue
    if memory_limit:
        limits["app"] = parse_size(memory_limit)
    return limits


def memory_trends(
    prom: Prometheus,
    steady: tuple[float, float],
    targets: Targets,
    limits: dict[str, float],
) -> tuple[list[MemoryTrend], list[str]]:
    start, end = steady
    step = max(MEMORY_STEP_MIN_S, range_step(start, end))
    found, notes = [], []
    for query in MEMORY_QUERIES:
        try:
            found += prom.range(query, start, end, step)
        except PrometheusUnavailable as exc:
            if "unreachable" in exc.message:
                raise
            notes.append(f"{query}: {exc.message}")
    processes = [(classify(series), series) for series in found]
    # A container's headroom is its limit minus what all its judged processes hold now.
    held: dict[str, float] = {}
    for process, series in processes:
        if process.container and process.role in DECIDING_ROLES and series.points:
            held[process.container] = held.get(process.container, 0.0) + series.points[-1][1]
    rule = LeakRule(
        targets.leak_min_relative_per_hour, targets.leak_min_bytes_per_hour, targets.leak_horizon_h
    )
    trends = []
    for process, series in processes:
        points = [((t - start) / 3600.0, v) for t, v in series.points]
        limit = limits.get(process.container or "")
        headroom = None if limit is None else limit - held.get(process.container or "", 0.0)
        judged = judge(process, points, rule, headroom)
        if judged is None:
            notes.append(f"{process.name}: too few points for a trend ({len(points)})")
        else:
            trends.append(judged)
    order = {role: i for i, role in enumerate(ROLES)}
    trends.sort(key=lambda m: (order[m.role], -m.slope_per_hour))
    return trends, notes


def steady_window(
    run_dir: Path, window: tuple[float, float], targets: Targets
) -> tuple[tuple[float, float], str]:
    """The part after warm-up: the documented minimum, or until Locust had all its users."""
    start, end = window
    warmup = targets.soak_warmup_s
    why = f"soak_warmup_s = {warmup:g} s"
    users = users_series(run_dir)
    if users:
        peak = max(u for _, u in users)
        ramp = next(t for t, u in users if u >= peak)
        if ramp > warmup:
            warmup, why = ramp, f"Locust reached {peak:.0f} users after {ramp:.0f} s"
    return (min(start + warmup, end), end), why


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
    limits = container_limits(meta, memory_limit)
    data = open_run(run_dir, with_spans=False, warn=warn)
    window_us = data.con.execute(
        "SELECT min(ts_start_us), max(ts_start_us) FROM requests"
    ).fetchone()
    data.con.close()
    window = run_window(meta, (int(window_us[0] or 0), int(window_us[1] or 0)))
    steady, why = steady_window(run_dir, window, targets)
    verdict = SoakVerdict(run_dir.name, window, steady)
    verdict.notes.append(f"warm-up: {why}")
    if not tolerate_unreachable:
        prom.ready()  # a wrong URL is bad input, even for a run too short to judge
    length = steady[1] - steady[0]
    if length < targets.soak_min_steady_s:
        verdict.too_short = (
            f"{length:.0f} s of steady load after the warm-up, "
            f"{targets.soak_min_steady_s:g} s needed (soak_min_steady_s)"
        )
        return verdict
    try:
        prom.ready()
        verdict.memory, notes = memory_trends(prom, steady, targets, limits)
        verdict.notes += notes
        drifts, notes = pgbouncer_drift(prom, *steady, targets)
        verdict.drifts += drifts
        verdict.notes += notes
    except PrometheusUnavailable as exc:
        if not tolerate_unreachable:
            raise
        verdict.notes.append(f"could not fetch memory and PgBouncer series: {exc.message}")
    drifts, notes = record_drifts(run_dir, *steady, targets)
    verdict.drifts = drifts + verdict.drifts
    verdict.notes += notes
    if "app" not in limits:
        verdict.notes.append(
            "no app memory limit known (pass --memory-limit): only the relative threshold applies"
        )
    verdict.notes.append(
        "PostgreSQL and PgBouncer publish no process memory: not judged (use container metrics)"
    )
    return verdict


def run_soak_verdict(
    run_dir: Path, prometheus_url: str, targets: Targets, memory_limit: str | None
) -> int:
    verdict = verdict_for_run(run_dir, Prometheus(prometheus_url), targets, memory_limit)
    print(verdict.text())
    if not verdict.too_short and not verdict.memory:
        print("warning: no memory series in Prometheus for this run's window", file=sys.stderr)
    return EXIT_OK if verdict.passed else EXIT_BREACH
