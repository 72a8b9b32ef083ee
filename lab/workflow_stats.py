"""Workflow transactions of a run: end-to-end time and success per workflow (a POS sale, ...).

Read from `runs/<id>/transactions/` (the `transactions` table of `lab.rundata`), one row per
workflow task a user ran to its end. Exact percentiles, as for requests (`quantile_cont`).
No target: the source document sets none for whole workflows, so these are figures, not
verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from lab.schemas import WORKFLOW_METHOD

__all__ = ["WORKFLOW_METHOD", "WorkflowStats", "durations_by_workflow", "per_workflow"]


@dataclass(frozen=True)
class WorkflowStats:
    name: str
    count: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    per_s: float
    mean_requests: float  # requests one transaction made, on average
    top_failure: str | None  # the most frequent reason a transaction failed
    slowest_trace_id: str | None  # the slowest transaction that has a trace id

    @property
    def success_ratio(self) -> float:
        return (self.count - self.failures) / self.count if self.count else 0.0


def per_workflow(con: duckdb.DuckDBPyConnection, duration_s: float) -> list[WorkflowStats]:
    rows = con.execute(
        """SELECT name, count(*), count(failure),
                  quantile_cont(duration_us, 0.50) / 1000.0,
                  quantile_cont(duration_us, 0.95) / 1000.0,
                  quantile_cont(duration_us, 0.99) / 1000.0,
                  max(duration_us) / 1000.0,
                  avg(requests),
                  mode(failure),
                  arg_max(trace_id, duration_us) FILTER (WHERE trace_id IS NOT NULL)
           FROM transactions GROUP BY name ORDER BY name"""
    ).fetchall()
    return [
        WorkflowStats(
            name=str(name),
            count=int(n),
            failures=int(failed),
            p50_ms=float(p50),
            p95_ms=float(p95),
            p99_ms=float(p99),
            max_ms=float(mx),
            per_s=n / duration_s if duration_s > 0 else 0.0,
            mean_requests=float(mean_requests or 0.0),
            top_failure=top_failure,
            slowest_trace_id=trace_id,
        )
        for name, n, failed, p50, p95, p99, mx, mean_requests, top_failure, trace_id in rows
    ]


def durations_by_workflow(
    con: duckdb.DuckDBPyConnection,
) -> list[tuple[str, list[int], int]]:
    """(name, sorted durations in µs, failures) per workflow: a run's sample for `lab compare`."""
    rows = con.execute(
        "SELECT name, list(duration_us ORDER BY duration_us), count(failure) "
        "FROM transactions GROUP BY name"
    ).fetchall()
    return [(str(name), list(values), int(failed)) for name, values, failed in rows]
