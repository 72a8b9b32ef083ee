"""Statements per request: `assertNumQueries` under load.

From the span archive (after `span_stats.prepare`): per server route, how many PostgreSQL
statements each traced request ran. `lab report` checks the p95 of that count against the
route's budget in targets.toml (`[statement_budgets]`, a route or `default`): above the
budget is a breach like a latency one. `lab compare` shows the counts of two runs per route
and calls a rise a regression when both the median and the maximum count grow by at least
`REGRESSION_MIN_ADDED` statements and by at least `REGRESSION_MIN_RATIO` (6 -> 56 is one
whatever the latency says). A count per request barely varies between runs of the same
code, but a cached route has two (a hit and a miss): its median moves with the hit ratio
(3 -> 8 on a real pair of runs of `/reports/daily-sales/`) while its maximum, the miss,
stays put, so the maximum must rise too.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lab import span_stats
from lab.rundata import open_run
from lab.targets import Targets

REGRESSION_MIN_ADDED = 3
REGRESSION_MIN_RATIO = 1.5
MIN_TRACED_REQUESTS = 3  # fewer on either side: shown, never called a regression


@dataclass(frozen=True)
class RouteStatements:
    route: str
    requests: int  # traced server spans of the route
    median: float
    p95: int  # an observed count (nearest rank), never an interpolation
    max: int
    budget: int | None = None

    @property
    def breached(self) -> bool:
        return self.budget is not None and self.p95 > self.budget

    def check_failed(self) -> str:
        return (
            f"CHECK FAILED: statements per request of {self.route} is {self.p95} at p95 "
            f"(threshold {self.budget}, over {self.requests} traced requests)"
        )


def per_route(
    con: duckdb.DuckDBPyConnection, targets: Targets | None = None
) -> list[RouteStatements]:
    rows = con.execute(
        """SELECT route, count(*), quantile_cont(db_n, 0.5), quantile_disc(db_n, 0.95), max(db_n)
           FROM per_request GROUP BY route ORDER BY route"""
    ).fetchall()
    return [
        RouteStatements(
            route=r[0],
            requests=int(r[1]),
            median=float(r[2]),
            p95=int(r[3]),
            max=int(r[4]),
            budget=targets.statement_budget(r[0]) if targets else None,
        )
        for r in rows
    ]


def load_run(run_dir: Path) -> list[RouteStatements]:
    data = open_run(run_dir, warn=False)
    try:
        span_stats.prepare(data.con)
        return per_route(data.con)
    finally:
        data.con.close()


def load_runs(run_dirs: list[Path]) -> list[RouteStatements]:
    """One side of `lab compare` made of several runs: statement counts are structural, not
    noisy, so per route the runs are pooled: requests summed, the median of the runs'
    medians, and the largest p95 and max (a regression in any run shows)."""
    by_route: dict[str, list[RouteStatements]] = {}
    for run_dir in run_dirs:
        for counts in load_run(run_dir):
            by_route.setdefault(counts.route, []).append(counts)
    return [
        RouteStatements(
            route=route,
            requests=sum(c.requests for c in runs),
            median=statistics.median(c.median for c in runs),
            p95=max(c.p95 for c in runs),
            max=max(c.max for c in runs),
        )
        for route, runs in sorted(by_route.items())
    ]


@dataclass(frozen=True)
class CountChange:
    route: str
    base: RouteStatements | None
    cand: RouteStatements | None

    @property
    def comparable(self) -> bool:
        return (
            self.base is not None
            and self.cand is not None
            and min(self.base.requests, self.cand.requests) >= MIN_TRACED_REQUESTS
        )

    @property
    def regression(self) -> bool:
        if not self.comparable:
            return False
        pairs = (
            (self.base.median, self.cand.median),  # type: ignore[union-attr]
            (self.base.max, self.cand.max),  # type: ignore[union-attr]
        )
        return all(
            b - a >= REGRESSION_MIN_ADDED and b >= a * REGRESSION_MIN_RATIO for a, b in pairs
        )

    def verdict(self) -> str:
        if self.base is None or self.cand is None:
            return "missing in one run"
        if not self.comparable:
            return f"too few traced requests (< {MIN_TRACED_REQUESTS})"
        if self.regression:
            return (
                f"REGRESSION: {self.base.median:g} -> {self.cand.median:g} statements "
                f"(max {self.base.max} -> {self.cand.max})"
            )
        if self.cand.median != self.base.median:
            return f"{self.cand.median - self.base.median:+g}"
        return "same"


def compare(base: list[RouteStatements], cand: list[RouteStatements]) -> list[CountChange]:
    a = {r.route: r for r in base}
    b = {r.route: r for r in cand}
    return [CountChange(route, a.get(route), b.get(route)) for route in sorted(a.keys() | b.keys())]


def render(changes: list[CountChange], markdown: bool) -> str:
    header = ["route", "traced A/B", "median A", "median B", "max A", "max B", "change"]

    def cells(r: RouteStatements | None) -> tuple[str, str, str]:
        return ("-", "-", "-") if r is None else (str(r.requests), f"{r.median:g}", str(r.max))

    table = []
    for c in changes:
        na, ma, xa = cells(c.base)
        nb, mb, xb = cells(c.cand)
        table.append([c.route, f"{na}/{nb}", ma, mb, xa, xb, c.verdict()])
    title = "Statements per traced request, by route (from spans)"
    if not table:
        return f"{title}: no traced requests in these runs\n"
    if markdown:
        lines = [f"#### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in table]
        return "\n".join(lines) + "\n"
    widths = [max(len(x) for x in col) for col in zip(header, *table, strict=False)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines) + "\n"


def regressions(changes: list[CountChange]) -> list[str]:
    return [f"{c.route} statements per request: {c.verdict()}" for c in changes if c.regression]
