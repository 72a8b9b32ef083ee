"""N+1 findings from the span archive (after `span_stats.prepare`), by route and by request name.

A candidate: within one server span, one normalised statement runs at least
`n_plus_one_min_repeats` times, sequentially (no two of its spans overlap: parallel queries
are not a loop), whatever the time (`n_plus_one_min_total_ms`, default 0, can ask for a
minimum total as Sentry's production detector does). Sentry only counts back-to-back
repeats; a Django template that touches `item.category` and `item.branch` per row
interleaves two statements, so the repeats of each statement are counted across the request.

A finding groups the candidates of one statement by server route, or by the load test's
request name (the Locust client span holding the server spans), and says in how many of the
traced requests of that route or name it happened, how often per request, what it cost per
request, its share of the route's (name's) time, and its total time across the run, by
which findings are ordered. When the statement is a primary-key lookup of one row of
another table (what Django runs for `item.category` without `select_related`), the finding
names the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from lab.targets import Targets

# Django's related-object access: SELECT <columns> FROM "app_model" WHERE "app_model"."id" = ?
# LIMIT ? (normalised), optionally followed by sqlcommenter's comment.
_PK_LOOKUP = re.compile(
    r'^SELECT .+ FROM "(?P<table>\w+)" WHERE "(?P=table)"\."id" = \?'
    r"(?: LIMIT \?)?\s*(?:/\*.*\*/)?$",
    re.DOTALL,
)


@dataclass(frozen=True)
class NPlusOne:
    route: str  # the server route, or the request name for findings by name
    statement: str
    requests_affected: int
    requests_total: int
    mean_repeats: float
    max_repeats: int
    mean_total_ms: float  # time of the repeats per affected request
    total_ms: float  # across the run
    share_of_time: float  # of all the route's (name's) traced time
    example_trace_id: str
    fix: str | None = None

    def where(self) -> str:
        return f"in {self.requests_affected} of {self.requests_total} traced requests"


def related_field(statement: str) -> str | None:
    """The likely ForeignKey name behind a primary-key lookup ("inventory_category" ->
    "category": Django names tables app_model and the field usually after the model)."""
    match = _PK_LOOKUP.match(statement)
    if not match:
        return None
    table = match.group("table")
    return table.split("_", 1)[1] if "_" in table else table


def _with_fixes(findings: list[NPlusOne]) -> list[NPlusOne]:
    """One select_related() naming every related lookup found on the same route or name."""
    fields: dict[str, list[str]] = {}
    for f in findings:
        name = related_field(f.statement)
        if name and name not in fields.setdefault(f.route, []):
            fields[f.route].append(name)
    fixed = []
    for f in findings:
        names = fields.get(f.route) or []
        fix = None
        if related_field(f.statement):
            listed = ", ".join(f"'{n}'" for n in names)
            fix = (
                f"select_related({listed}) on the queryset (one JOIN instead of one query per row)"
            )
        fixed.append(NPlusOne(**{**f.__dict__, "fix": fix}))
    return fixed


# The unit a finding counts: a server span (by route) or a client span (by request name).
_UNITS = {
    "route": ("per_request", "route", "span_id", "server_ns"),
    "name": ("per_client", "request_name", "span_id", "client_ns"),
}


def find_n_plus_one(
    con: duckdb.DuckDBPyConnection, targets: Targets, by: str = "route"
) -> list[NPlusOne]:
    table, key, unit, time_ns = _UNITS[by]
    unit_of_server = "span_id" if by == "route" else "client_id"
    min_total_ns = int(targets.n_plus_one_min_total_ms * 1e6)
    rows = con.execute(
        f"""WITH d AS (
              SELECT server_id, trace_id, stmt, s, e,
                     lag(e) OVER (PARTITION BY server_id, stmt ORDER BY s) AS prev_e
              FROM children WHERE db_system = 'postgresql'),
            loops AS (
              SELECT server_id, trace_id, stmt, count(*) AS n, sum(e - s) AS ns
              FROM d GROUP BY server_id, trace_id, stmt
              HAVING count(*) >= {int(targets.n_plus_one_min_repeats)}
                 AND sum(e - s) >= {min_total_ns}
                 AND count(*) FILTER (WHERE s < prev_e) = 0),
            per_unit AS (
              SELECT pr.{unit_of_server} AS unit, loops.stmt, any_value(loops.trace_id) AS trace_id,
                     sum(loops.n) AS n, sum(loops.ns) AS ns
              FROM loops JOIN per_request pr ON pr.span_id = loops.server_id
              WHERE pr.{unit_of_server} IS NOT NULL
              GROUP BY pr.{unit_of_server}, loops.stmt),
            keyed AS (SELECT {key} AS k, {unit} AS unit, {time_ns} AS unit_ns FROM {table}
                      WHERE {key} IS NOT NULL),
            totals AS (SELECT k, count(*) AS units, sum(unit_ns) AS ns FROM keyed GROUP BY k)
           SELECT keyed.k, per_unit.stmt, count(*), any_value(totals.units),
                  avg(per_unit.n), max(per_unit.n), avg(per_unit.ns) / 1e6,
                  sum(per_unit.ns) / 1e6, sum(per_unit.ns) / any_value(totals.ns),
                  arg_max(per_unit.trace_id, per_unit.ns)
           FROM per_unit JOIN keyed ON keyed.unit = per_unit.unit
           JOIN totals ON totals.k = keyed.k
           GROUP BY keyed.k, per_unit.stmt
           ORDER BY sum(per_unit.ns) DESC, keyed.k, per_unit.stmt"""  # noqa: S608 - fixed names
    ).fetchall()
    findings = [
        NPlusOne(
            route=r[0],
            statement=r[1],
            requests_affected=int(r[2]),
            requests_total=int(r[3]),
            mean_repeats=float(r[4]),
            max_repeats=int(r[5]),
            mean_total_ms=float(r[6]),
            total_ms=float(r[7]),
            share_of_time=float(r[8]) if r[8] is not None else 0.0,
            example_trace_id=r[9],
        )
        for r in rows
    ]
    return _with_fixes(findings)
