"""How complete a run's traces are: spans the senders dropped, and traces the archive lacks.

Two kinds of evidence, both from what the run left behind:

- counted by the senders, in spans (not batches): Locust's `spans_dropped` event
  (events.jsonl, summed over workers) and, when Prometheus is given, the app's
  `jewelry_spans_dropped_total` over the run's window;
- measured against the record: every sampled request carries its task's trace id, so a
  trace id of the record with no span at all in the archive is a trace lost on the way
  (a sender's drop, or spans the archive had accepted but not written when it crashed).

Any loss marks the trace-based sections of the report (where the time goes, statements,
N+1, database p95) as partial: they are computed on what arrived.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lab.contract import RunFolder, read_events
from lab.prometheus import Prometheus, PrometheusUnavailable

EXPORT_SETTLE_S = 30.0  # the app exports its last spans a little after the run ends


@dataclass(frozen=True)
class TraceLoss:
    locust_spans_dropped: int
    app_spans_dropped: int | None  # None: Prometheus not asked or had no answer
    sampled_traces: int
    traces_missing: int

    @property
    def partial(self) -> bool:
        return bool(self.locust_spans_dropped or self.app_spans_dropped or self.traces_missing)

    def describe(self) -> str:
        app = (
            "not known (no Prometheus)"
            if self.app_spans_dropped is None
            else str(self.app_spans_dropped)
        )
        return (
            f"spans dropped by Locust {self.locust_spans_dropped}, by the app {app}; "
            f"{self.traces_missing} of {self.sampled_traces} sampled traces "
            "have no span in the archive"
        )


def locust_spans_dropped(run_dir: Path) -> int:
    return sum(
        int(event.get("detail", {}).get("count", 0) or 0)
        for event in read_events(RunFolder(run_dir).events).events
        if event.get("kind") == "spans_dropped"
    )


def app_spans_dropped(prometheus_url: str | None, start: float, end: float) -> int | None:
    """`jewelry_spans_dropped_total` gained over the run (plus the app's last exports)."""
    if not prometheus_url:
        return None
    at = min(time.time(), end + EXPORT_SETTLE_S)
    window = f"{max(1, math.ceil(at - start))}s"
    # The exported counter makes "no drop" a 0 rather than no answer at all.
    query = (
        f"sum(increase(jewelry_spans_dropped_total[{window}])) "
        f"or sum(increase(jewelry_spans_exported_total[{window}])) * 0"
    )
    try:
        series = Prometheus(prometheus_url).instant(query, at=at)
    except PrometheusUnavailable:
        return None
    if not series or series[0].points[0][1] != series[0].points[0][1]:  # none or NaN
        return None
    return round(series[0].points[0][1])


def missing_traces(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(sampled traces in the record, of those with no span in the archive)."""
    sampled, missing = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE s.trace_id IS NULL)
           FROM (SELECT DISTINCT trace_id FROM requests WHERE trace_id IS NOT NULL) r
           LEFT JOIN (SELECT DISTINCT trace_id FROM spans) s USING (trace_id)"""
    ).fetchone()
    return int(sampled), int(missing)


def assess(
    run_dir: Path,
    con: duckdb.DuckDBPyConnection,
    prometheus_url: str | None,
    start: float,
    end: float,
) -> TraceLoss:
    sampled, missing = missing_traces(con)
    return TraceLoss(
        locust_spans_dropped=locust_spans_dropped(run_dir),
        app_spans_dropped=app_spans_dropped(prometheus_url, start, end),
        sampled_traces=sampled,
        traces_missing=missing,
    )
