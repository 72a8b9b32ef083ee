"""Open-model results: late arrivals and, per rate step, corrected latency against the targets.

Read by the master at the end of a run (events `arrivals`, `arrivals_late`, `arrival_step`,
`breaking_point`) and by `lab report`. pyarrow only (the load generator's processes load it).

Corrected latency = response time + schedule lag: the time from the arrival's intended start
to the response, what a user arriving on schedule would have waited. A step is judged on the
requests whose intended start falls in it; the pool signed in before the first step, so no
step carries the sign-in storm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lab.arrival_plan import ArrivalPlan
from lab.contract import LATE_ARRIVAL_MAX_RATIO, RunFolder

_COLUMNS = ["name", "response_time_us", "schedule_lag_us", "intended_start_us", "failure"]


class Thresholds(Protocol):
    page_p95_ms: float
    api_p95_ms: float
    failure_ratio: float
    api_prefix: str


@dataclass(frozen=True)
class LateArrivals:
    planned: int
    started: int
    late_started: int  # started more than LATE_ARRIVAL_S after the intended start

    @property
    def not_started(self) -> int:
        return max(0, self.planned - self.started)

    @property
    def late(self) -> int:
        return self.late_started + self.not_started

    @property
    def ratio(self) -> float:
        return self.late / self.planned if self.planned else 0.0

    @property
    def too_many(self) -> bool:
        return self.ratio > LATE_ARRIVAL_MAX_RATIO

    def detail(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "started": self.started,
            "late_started": self.late_started,
            "not_started": self.not_started,
            "late_ratio": round(self.ratio, 4),
            "threshold": LATE_ARRIVAL_MAX_RATIO,
        }


def read_counts(run_dir: Path) -> list[dict[str, Any]]:
    """Every worker's `arrivals.json` that reads (a lost worker's is missing)."""
    counts = []
    for path in RunFolder(run_dir).arrival_counts():
        try:
            counts.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return counts


def late_arrivals(counts: list[dict[str, Any]], steps: int | None = None) -> LateArrivals:
    """Sum over workers of the first `steps` steps (all when None)."""
    planned = started = late = 0
    for worker in counts:
        for step in worker.get("steps", [])[:steps]:
            planned += int(step.get("planned", 0))
            started += int(step.get("started", 0))
            late += int(step.get("late", 0))
    return LateArrivals(planned, started, late)


@dataclass(frozen=True)
class StepResult:
    index: int
    rate: float  # planned tasks/s
    requests: int
    requests_per_s: float
    failure_ratio: float
    page_p95_ms: float | None  # measured
    api_p95_ms: float | None
    page_p95_corrected_ms: float | None
    api_p95_corrected_ms: float | None
    broken_by: str | None

    def detail(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _p95(values: pa.Array) -> float | None:
    if len(values) == 0:
        return None
    return float(pc.quantile(values, q=0.95, interpolation="linear")[0].as_py()) / 1000.0


def _record(run_dir: Path) -> pa.Table | None:
    tables = []
    for part in RunFolder(run_dir).request_parts():
        try:
            names = set(pq.ParquetFile(part).schema_arrow.names)
            if "schedule_lag_us" not in names:
                continue
            tables.append(pq.read_table(part, columns=_COLUMNS))
        except (OSError, pa.ArrowInvalid):
            continue
    return pa.concat_tables(tables) if tables else None


def judge_steps(run_dir: Path, plan: ArrivalPlan, targets: Thresholds) -> list[StepResult]:
    """Each step of the plan on corrected latency: page and API p95, failure ratio."""
    table = _record(run_dir)
    results = []
    for index, step in enumerate(plan.steps):
        lo = int((plan.t0 + step.start_s) * 1e6)
        hi = int((plan.t0 + step.end_s) * 1e6)
        rows = table.filter(
            pc.and_(
                pc.greater_equal(table["intended_start_us"], lo),
                pc.less(table["intended_start_us"], hi),
            )
        ) if table is not None else None  # fmt: skip
        count = 0 if rows is None else rows.num_rows
        if rows is None or count == 0:
            results.append(StepResult(index, step.rate, 0, 0.0, 0.0, *([None] * 4), None))
            continue
        api = pc.starts_with(rows["name"], targets.api_prefix)
        corrected = pc.add(rows["response_time_us"], rows["schedule_lag_us"])
        measured = rows["response_time_us"]
        page_m, api_m = measured.filter(pc.invert(api)), measured.filter(api)
        page_c, api_c = corrected.filter(pc.invert(api)), corrected.filter(api)
        failures = count - rows["failure"].null_count
        ratio = failures / count
        p_page, p_api = _p95(page_c), _p95(api_c)
        broken_by = None
        if p_page is not None and p_page >= targets.page_p95_ms:
            broken_by = f"page p95 (corrected) {p_page:.0f} ms >= {targets.page_p95_ms:.0f} ms"
        elif p_api is not None and p_api >= targets.api_p95_ms:
            broken_by = f"API p95 (corrected) {p_api:.0f} ms >= {targets.api_p95_ms:.0f} ms"
        elif ratio >= targets.failure_ratio:
            broken_by = f"failure ratio {ratio:.2%} >= {targets.failure_ratio:.2%}"
        seconds = max(1e-9, step.end_s - step.start_s)
        results.append(
            StepResult(
                index,
                step.rate,
                count,
                count / seconds,
                ratio,
                _p95(page_m),
                _p95(api_m),
                p_page,
                p_api,
                broken_by,
            )
        )
    return results


def breaking_point(steps: list[StepResult]) -> tuple[StepResult | None, StepResult | None]:
    """(last step that held before the first that broke, the first that broke)."""
    held = None
    for step in steps:
        if step.requests == 0:
            continue
        if step.broken_by is not None:
            return held, step
        held = step
    return held, None


def first_broken_index(steps: list[StepResult]) -> int | None:
    _, broke = breaking_point(steps)
    return None if broke is None else broke.index
