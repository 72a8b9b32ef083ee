"""Target checks at the end of a run, from the exact per-request record.

Per request name: p95 below the page or API target (by the `/api/` prefix);
per name and overall: failure ratio below the target. Percentiles are exact
(linear interpolation between the two closest ranks, as numpy and DuckDB's
`quantile_cont` do) over unrounded microseconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from locustfiles._record import record_parts
from locustfiles._targets import RunTargets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckFailure:
    check: str
    name: str
    value: float
    threshold: float

    def message(self) -> str:
        if self.check == "failure_ratio":
            return (
                f"CHECK FAILED: failure ratio of {self.name} is {self.value:.2%} "
                f"(threshold {self.threshold:.2%})"
            )
        return (
            f"CHECK FAILED: {self.check} of {self.name} is {self.value:.1f} ms "
            f"(threshold {self.threshold:.1f} ms)"
        )


@dataclass(frozen=True)
class CheckResult:
    rows: int
    failures: list[CheckFailure]

    @property
    def passed(self) -> bool:
        return not self.failures


def read_record(run_dir: Path) -> pa.Table:
    columns = ["name", "response_time_us", "failure"]
    tables = []
    for part in record_parts(run_dir):
        try:
            tables.append(pq.read_table(part, columns=columns))
        except (OSError, pa.ArrowInvalid) as exc:
            logger.warning("per-request record: unreadable part %s skipped (%s)", part, exc)
    if not tables:
        return pa.table(
            {
                "name": pa.array([], pa.string()),
                "response_time_us": pa.array([], pa.int64()),
                "failure": pa.array([], pa.string()),
            }
        )
    return pa.concat_tables(tables)


def check_record(run_dir: Path, targets: RunTargets) -> CheckResult:
    table = read_record(run_dir)
    failures: list[CheckFailure] = []
    if table.num_rows == 0:
        return CheckResult(0, [CheckFailure("requests", "the run", 0.0, 1.0)])
    failed = pc.is_valid(table["failure"])
    total_failed = pc.sum(failed.cast(pa.int64())).as_py() or 0
    overall_ratio = total_failed / table.num_rows
    if overall_ratio >= targets.failure_ratio:
        failures.append(
            CheckFailure("failure_ratio", "all requests", overall_ratio, targets.failure_ratio)
        )
    grouped = (
        table.append_column("failed", failed.cast(pa.int64()))
        .group_by("name")
        .aggregate([("failed", "sum"), ("failed", "count")])
    )
    for row in grouped.to_pylist():
        name = row["name"]
        count = row["failed_count"]
        ratio = row["failed_sum"] / count if count else 0.0
        if ratio >= targets.failure_ratio:
            failures.append(CheckFailure("failure_ratio", name, ratio, targets.failure_ratio))
        times = table.filter(pc.equal(table["name"], name))["response_time_us"]
        p95_ms = pc.quantile(times, q=0.95, interpolation="linear")[0].as_py() / 1000.0
        threshold = targets.p95_target_ms(name)
        if p95_ms >= threshold:
            kind = "API p95" if targets.is_api(name) else "page p95"
            failures.append(CheckFailure(kind, name, p95_ms, threshold))
    return CheckResult(table.num_rows, failures)
