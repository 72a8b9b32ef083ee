"""Exact latency statistics from the per-request record (DuckDB over the run's rows)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lab.contract import RunFolder
from lab.targets import Targets


@dataclass(frozen=True)
class NameStats:
    method: str
    name: str
    count: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rps: float
    kind: str
    target_p95_ms: float
    failure_ratio_target: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.count if self.count else 0.0

    @property
    def p95_ok(self) -> bool:
        return self.p95_ms < self.target_p95_ms

    @property
    def failures_ok(self) -> bool:
        return self.failure_ratio < self.failure_ratio_target

    @property
    def passed(self) -> bool:
        return self.p95_ok and self.failures_ok


@dataclass(frozen=True)
class Totals:
    count: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rps: float
    first_us: int
    last_us: int

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.count if self.count else 0.0


# quantile_cont interpolates linearly between order statistics (numpy's default):
# exact from every record, never a histogram bucket estimate.
_STATS_SQL = """
    count(*) AS n,
    count(failure) AS failures,
    quantile_cont(response_time_us, 0.50) / 1000.0,
    quantile_cont(response_time_us, 0.95) / 1000.0,
    quantile_cont(response_time_us, 0.99) / 1000.0,
    max(response_time_us) / 1000.0
"""


def run_window_us(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = con.execute(
        "SELECT min(ts_start_us), max(ts_start_us + response_time_us) FROM requests"
    ).fetchone()
    return (int(row[0] or 0), int(row[1] or 0))


def totals(con: duckdb.DuckDBPyConnection, duration_s: float) -> Totals:
    row = con.execute(
        f"SELECT {_STATS_SQL}, min(ts_start_us), max(ts_start_us) FROM requests"  # noqa: S608
    ).fetchone()
    n = int(row[0])
    return Totals(
        count=n,
        failures=int(row[1]),
        p50_ms=float(row[2] or 0),
        p95_ms=float(row[3] or 0),
        p99_ms=float(row[4] or 0),
        max_ms=float(row[5] or 0),
        rps=n / duration_s if duration_s > 0 else 0.0,
        first_us=int(row[6] or 0),
        last_us=int(row[7] or 0),
    )


def per_name(
    con: duckdb.DuckDBPyConnection, targets: Targets, duration_s: float
) -> list[NameStats]:
    rows = con.execute(
        f"SELECT coalesce(method, ''), name, {_STATS_SQL} FROM requests "  # noqa: S608
        "GROUP BY ALL ORDER BY name, 1"
    ).fetchall()
    return [
        NameStats(
            method=method,
            name=name,
            count=int(n),
            failures=int(f),
            p50_ms=float(p50),
            p95_ms=float(p95),
            p99_ms=float(p99),
            max_ms=float(mx),
            rps=n / duration_s if duration_s > 0 else 0.0,
            kind=targets.kind_of(name),
            target_p95_ms=targets.p95_target_ms(name),
            failure_ratio_target=targets.failure_ratio,
        )
        for method, name, n, f, p50, p95, p99, mx in rows
    ]


@dataclass(frozen=True)
class SeriesPoint:
    t_s: float  # seconds since the first request
    rps: float
    failures_per_s: float
    p95_ms: float


def time_series(
    con: duckdb.DuckDBPyConnection, max_points: int = 120
) -> tuple[float, list[SeriesPoint]]:
    """Requests/s, failures/s and p95 per bucket; bucket width keeps the chart readable."""
    first, last = con.execute("SELECT min(ts_start_us), max(ts_start_us) FROM requests").fetchone()
    if first is None:
        return 1.0, []
    span_s = max(1.0, (last - first) / 1e6)
    width = float(max(1, math.ceil(span_s / max_points)))
    rows = con.execute(
        f"""SELECT (ts_start_us - {first}) // {int(width * 1e6)} AS b, count(*), count(failure),
                   quantile_cont(response_time_us, 0.95) / 1000.0
            FROM requests GROUP BY b ORDER BY b"""  # noqa: S608
    ).fetchall()
    return width, [
        SeriesPoint(b * width, n / width, f / width, float(p95)) for b, n, f, p95 in rows
    ]


def users_series(run_dir: Path) -> list[tuple[float, float]]:
    """(seconds, users) from Locust's stats_history CSV, when the run has one."""
    path = RunFolder(run_dir).locust_history_csv
    points: list[tuple[float, float]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        return points
    try:
        first = float(rows[0]["Timestamp"]) if rows else 0.0
        points = [(float(r["Timestamp"]) - first, float(r["User Count"])) for r in rows]
    except (KeyError, ValueError):
        return []
    return points


@dataclass(frozen=True)
class SlowRequest:
    ts_us: int
    method: str
    name: str
    ms: float
    status: int | None
    trace_id: str | None


def slowest(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[SlowRequest]:
    """Slowest requests, preferring ones with a trace id so each can be opened in Jaeger."""
    rows = con.execute(
        f"""SELECT ts_start_us, coalesce(method, ''), name, response_time_us / 1000.0,
                   status, trace_id
            FROM requests ORDER BY response_time_us DESC LIMIT {limit}"""  # noqa: S608
    ).fetchall()
    traced = con.execute(
        f"""SELECT ts_start_us, coalesce(method, ''), name, response_time_us / 1000.0,
                   status, trace_id
            FROM requests WHERE trace_id IS NOT NULL
            ORDER BY response_time_us DESC LIMIT {limit}"""  # noqa: S608
    ).fetchall()
    seen = set()
    result = []
    for row in [*rows, *traced]:
        key = (row[0], row[2], row[3])
        if key not in seen:
            seen.add(key)
            result.append(SlowRequest(int(row[0]), row[1], row[2], float(row[3]), row[4], row[5]))
    return sorted(result, key=lambda r: -r.ms)[: 2 * limit]


@dataclass(frozen=True)
class FailureReason:
    reason: str  # the record's `failure`, e.g. "ContentError: HTTP 503 (database unavailable …"
    count: int
    first_s: float  # seconds since the first request: where to look on the over-time charts
    last_s: float


def failure_reasons(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[FailureReason]:
    """The most frequent failure reasons, with when they happened (an outage reads as one)."""
    rows = con.execute(
        """SELECT left(failure, 160) AS reason, count(*),
                  (min(ts_start_us) - (SELECT min(ts_start_us) FROM requests)) / 1e6,
                  (max(ts_start_us) - (SELECT min(ts_start_us) FROM requests)) / 1e6
           FROM requests WHERE failure IS NOT NULL
           GROUP BY reason ORDER BY count(*) DESC, reason LIMIT ?""",
        [limit],
    ).fetchall()
    return [FailureReason(str(r), int(n), float(a), float(b)) for r, n, a, b in rows]
