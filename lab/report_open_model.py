"""Report sections on coordinated omission: corrected latency, late arrivals, the knee, sign-ins.

- Corrected latency (open model): per request name, measured p50/p95/p99 beside corrected
  ones (response time + schedule lag: from the intended start), over the requests that had an
  intended start.
- Late arrivals and, for an open `stress`, each rate step and the breaking point: from the
  master's events (lab/arrival_steps.py wrote them from the same record).
- The sign-in storm (any profile): sign-in requests grouped by how many sign-ins overlapped
  each (itself included); the largest concurrency whose sign-ins stayed within target.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lab.contract import RunFolder
from lab.health import read_events
from lab.svg import line_chart
from lab.targets import Targets

# The sign-in requests of the scenarios (locustfiles/_users.py, shop_users.py): Argon2 work.
SIGN_IN_REQUESTS = (("POST", "/accounts/login/"), ("POST", "/api/auth/token/"))


@dataclass(frozen=True)
class CorrectedName:
    method: str
    name: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    corrected_p50_ms: float
    corrected_p95_ms: float
    corrected_p99_ms: float
    lag_p99_ms: float


@dataclass(frozen=True)
class SignInLevel:
    concurrent: int  # sign-ins in flight at some moment of each of these (itself included)
    count: int
    p95_ms: float


@dataclass
class OpenModel:
    names: list[CorrectedName] = field(default_factory=list)
    overall: CorrectedName | None = None
    arrivals: dict[str, Any] | None = None  # the `arrivals` event
    late: bool = False  # an `arrivals_late` event
    steps: list[dict[str, Any]] = field(default_factory=list)  # `arrival_step` events
    stress_steps: list[dict[str, Any]] = field(default_factory=list)  # closed `stress_step`
    breaking_point: dict[str, Any] | None = None
    sign_ins: list[SignInLevel] = field(default_factory=list)
    sign_in_target_ms: float = 0.0
    sign_in_absorbed: int | None = None  # largest concurrency within target (None: none)

    @property
    def empty(self) -> bool:
        return not self.names and not self.steps and not self.stress_steps and not self.sign_ins

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_CORRECTED_SQL = """
    count(*),
    quantile_cont(response_time_us, 0.50) / 1000.0,
    quantile_cont(response_time_us, 0.95) / 1000.0,
    quantile_cont(response_time_us, 0.99) / 1000.0,
    quantile_cont(response_time_us + schedule_lag_us, 0.50) / 1000.0,
    quantile_cont(response_time_us + schedule_lag_us, 0.95) / 1000.0,
    quantile_cont(response_time_us + schedule_lag_us, 0.99) / 1000.0,
    quantile_cont(schedule_lag_us, 0.99) / 1000.0
"""


def corrected(con: duckdb.DuckDBPyConnection) -> tuple[list[CorrectedName], CorrectedName | None]:
    rows = con.execute(
        f"SELECT coalesce(method, ''), name, {_CORRECTED_SQL} FROM requests "  # noqa: S608
        "WHERE schedule_lag_us IS NOT NULL GROUP BY ALL ORDER BY name, 1"
    ).fetchall()
    names = [CorrectedName(m, n, int(c), *map(float, rest)) for m, n, c, *rest in rows]
    if not names:
        return [], None
    total = con.execute(
        f"SELECT {_CORRECTED_SQL} FROM requests WHERE schedule_lag_us IS NOT NULL"  # noqa: S608
    ).fetchone()
    return names, CorrectedName("", "all scheduled requests", int(total[0]), *map(float, total[1:]))


def _overlaps(starts: pa.ChunkedArray, ends: pa.ChunkedArray) -> list[int]:
    """For each interval [s, e), how many of the intervals overlap it (itself included).

    b overlaps a when b.s < a.e and b.e > a.s: the count of starts before a.e less the count
    of intervals that ended by a.s (each of those also started before a.e). Two sorted lists
    and two binary searches per interval, O(n log n): a pairwise count was O(n^2) and did
    not finish on a day-long run's sign-ins. A sign-in lasts at least 1 us here (a 0 us
    response time would otherwise count itself out).
    """
    s = starts.to_pylist()
    e = [max(end, start + 1) for start, end in zip(s, ends.to_pylist(), strict=True)]
    sorted_starts, sorted_ends = sorted(s), sorted(e)
    return [
        bisect.bisect_left(sorted_starts, end) - bisect.bisect_right(sorted_ends, start)
        for start, end in zip(s, e, strict=True)
    ]


def sign_in_storm(
    con: duckdb.DuckDBPyConnection, targets: Targets
) -> tuple[list[SignInLevel], float, int | None]:
    """Sign-ins by how many sign-ins overlapped each; the largest level whose p95 (of every
    sign-in at that concurrency or less) is under the target of its kind."""
    pairs = " OR ".join(f"(method = '{m}' AND name = '{n}')" for m, n in SIGN_IN_REQUESTS)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sign_ins AS SELECT ts_start_us AS s, "  # noqa: S608
        f"ts_start_us + response_time_us AS e, response_time_us AS rt, name FROM requests "
        f"WHERE {pairs}"
    )
    if not con.execute("SELECT count(*) FROM sign_ins").fetchone()[0]:
        return [], 0.0, None
    sign_ins = con.execute("SELECT s, e, rt FROM sign_ins").to_arrow_table()
    levels_table = pa.table(
        {"rt": sign_ins["rt"], "level": _overlaps(sign_ins["s"], sign_ins["e"])}
    )
    con.register("sign_in_levels_source", levels_table)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sign_in_levels AS SELECT * FROM sign_in_levels_source"
    )
    con.unregister("sign_in_levels_source")
    rows = con.execute(
        """SELECT level, count(*), quantile_cont(rt, 0.95) / 1000.0 FROM sign_in_levels
           GROUP BY level ORDER BY level"""
    ).fetchall()
    # p95 of every sign-in at each concurrency or less
    within = dict(
        con.execute(
            """SELECT l.level, quantile_cont(s.rt, 0.95) / 1000.0
               FROM (SELECT DISTINCT level FROM sign_in_levels) l
               JOIN sign_in_levels s ON s.level <= l.level GROUP BY l.level"""
        ).fetchall()
    )
    names = [r[0] for r in con.execute("SELECT DISTINCT name FROM sign_ins").fetchall()]
    target = min(targets.p95_target_ms(n) for n in names)
    levels = [SignInLevel(int(c), int(n), float(p)) for c, n, p in rows]
    absorbed = None
    for level in levels:
        if within[level.concurrent] < target:
            absorbed = level.concurrent
        else:
            break
    return levels, target, absorbed


def collect(con: duckdb.DuckDBPyConnection, run_dir: Path, targets: Targets) -> OpenModel:
    model = OpenModel()
    model.names, model.overall = corrected(con)
    events, _bad = read_events(RunFolder(run_dir).events)
    for event in events:
        kind, detail = event.get("kind"), event.get("detail") or {}
        if kind == "arrivals":
            model.arrivals = detail
        elif kind == "arrivals_late":
            model.late = True
        elif kind == "arrival_step":
            model.steps.append(detail)
        elif kind == "stress_step":
            model.stress_steps.append(detail)
        elif kind == "breaking_point" and "broke_at_rate" in detail:
            model.breaking_point = detail
    model.sign_ins, model.sign_in_target_ms, model.sign_in_absorbed = sign_in_storm(con, targets)
    return model


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def markdown_lines(model: OpenModel) -> list[str]:
    lines: list[str] = []
    if model.names:
        lines += [
            "## Corrected latency (open model: from each request's intended start)",
            "",
            "| request | count | p50 ms | p95 ms | p99 ms | corrected p50 | corrected p95 "
            "| corrected p99 | schedule lag p99 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in [*model.names, *([model.overall] if model.overall else [])]:
            lines.append(
                f"| {n.method} {n.name} | {n.count} | {n.p50_ms:.1f} | {n.p95_ms:.1f} | "
                f"{n.p99_ms:.1f} | {n.corrected_p50_ms:.1f} | {n.corrected_p95_ms:.1f} | "
                f"{n.corrected_p99_ms:.1f} | {n.lag_p99_ms:.1f} |"
            )
        lines.append("")
    if model.arrivals:
        a = model.arrivals
        lines += [
            f"Arrivals: {a.get('planned')} planned, {a.get('started')} started, "
            f"{a.get('late_started')} started late, {a.get('not_started')} never started: "
            f"{float(a.get('late_ratio', 0)):.2%} late "
            f"(threshold {float(a.get('threshold', 0)):.0%})"
            + ("; **too many: the run is untrustworthy**" if model.late else ""),
            "",
        ]
    if model.steps:
        lines += [
            "## Rate steps (open stress, judged on corrected latency)",
            "",
            "| step | planned tasks/s | req/s | page p95 | page p95 corrected | API p95 "
            "| API p95 corrected | failed | verdict |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for s in model.steps:
            lines.append(
                f"| {int(s['index']) + 1} | {float(s['rate']):.1f} | "
                f"{float(s['requests_per_s']):.1f} | {_ms(s['page_p95_ms'])} | "
                f"{_ms(s['page_p95_corrected_ms'])} | {_ms(s['api_p95_ms'])} | "
                f"{_ms(s['api_p95_corrected_ms'])} | {float(s['failure_ratio']):.2%} | "
                f"{s['broken_by'] or ('held' if s['requests'] else 'no requests')} |"
            )
        bp = model.breaking_point
        lines += [
            "",
            (
                f"Breaking point: {bp['reason']} at {bp['broke_at_rate']} tasks/s; highest rate "
                f"that held: {bp['held_rate'] if bp['held_rate'] is not None else 'none'}"
                if bp
                else "No breaking point: every step held."
            ),
            "",
        ]
    if model.stress_steps:
        lines += [
            "## Stress steps (closed model, each judged after its users signed in)",
            "",
            "| step | users | steady req/s | page p95 ms | API p95 ms | failed | sign-ins "
            "| sign-in p95 ms | verdict |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for s in model.stress_steps:
            lines.append(
                f"| {s.get('step')} | {s.get('users')} | {float(s.get('rps') or 0):.1f} | "
                f"{_ms(s.get('page_p95_ms'))} | {_ms(s.get('api_p95_ms'))} | "
                f"{float(s.get('failure_ratio') or 0):.2%} | {s.get('sign_ins', 0)} | "
                f"{_ms(s.get('sign_in_p95_ms'))} | {s.get('broken_by') or 'held'} |"
            )
        lines.append("")
    if model.sign_ins:
        absorbed = model.sign_in_absorbed
        lines += [
            "## Sign-in storm",
            "",
            "| sign-ins overlapping | sign-ins | p95 ms |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {s.concurrent} | {s.count} | {s.p95_ms:.1f} |" for s in model.sign_ins]
        lines += [
            "",
            (
                f"The app absorbs {absorbed} concurrent sign-ins within "
                f"{model.sign_in_target_ms:.0f} ms (p95 of every sign-in at that concurrency "
                "or less)."
                if absorbed is not None
                else f"Sign-ins exceeded {model.sign_in_target_ms:.0f} ms (p95) already at the "
                f"lowest concurrency seen ({model.sign_ins[0].concurrent})."
            ),
            "",
        ]
    return lines


def html_section(model: OpenModel) -> list[str]:
    """The same as markdown_lines, plus the knee: throughput against corrected p95."""
    parts: list[str] = []
    if model.steps:
        page = [
            (float(s["requests_per_s"]), float(s["page_p95_corrected_ms"]))
            for s in model.steps
            if s["page_p95_corrected_ms"] is not None
        ]
        api = [
            (float(s["requests_per_s"]), float(s["api_p95_corrected_ms"]))
            for s in model.steps
            if s["api_p95_corrected_ms"] is not None
        ]
        parts.append(
            line_chart(
                "Throughput against corrected p95 (the knee)",
                [("page p95", page), ("API p95", api)],
                x_label="requests/s achieved",
                y_label="ms",
            )
        )
    if model.stress_steps:
        points = [
            (float(s.get("rps") or 0), float(s["api_p95_ms"]))
            for s in model.stress_steps
            if s.get("api_p95_ms") is not None
        ]
        pages = [
            (float(s.get("rps") or 0), float(s["page_p95_ms"]))
            for s in model.stress_steps
            if s.get("page_p95_ms") is not None
        ]
        parts.append(
            line_chart(
                "Throughput against p95, steady part of each step (the knee)",
                [("page p95", pages), ("API p95", points)],
                x_label="requests/s",
                y_label="ms",
            )
        )
    text = "\n".join(markdown_lines(model))
    if text.strip():
        parts.append(f"<pre>{escape(text)}</pre>")
    return parts
