"""Where the time goes, from the span archive: breakdown, statements, N+1 findings.

Each database or Redis span is attributed to the SERVER span of the same trace
whose interval contains it, so spans nested under intermediate INTERNAL spans
still count. Network and queueing time is the Locust CLIENT span (the server
span's parent) minus the sum of ALL its server spans: a request that follows a
redirect (the login POST, then `GET /dashboard/`) has two. By route, each server
span counts only its own time (plus an equal share of its client's network and
queueing, one round trip each); by request name, the whole client request counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from lab.sqlnorm import normalise_sql_expression

NORMALISED_STATEMENT = normalise_sql_expression("coalesce(c.db_statement, c.name)")
# A server span's route as the report names it (the breakdown here, the waterfall picks in
# lab.trace_picks): Django's http.route has no leading slash ("inventory/"), Locust names do.
ROUTE_SQL = (
    "CASE WHEN http_route IS NULL THEN name "
    "WHEN starts_with(http_route, '/') THEN http_route ELSE '/' || http_route END"
)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary tables shared by the analyses below (servers, children, per-request)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE servers AS
           SELECT trace_id, span_id, parent_span_id, {ROUTE_SQL} AS route,
                  start_unix_ns AS s, end_unix_ns AS e
           FROM spans WHERE kind = 'SERVER'"""  # noqa: S608 - a fixed expression
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE children AS
           SELECT sv.span_id AS server_id, sv.route, sv.trace_id, c.db_system,
                  c.start_unix_ns AS s, c.end_unix_ns AS e,
                  CASE WHEN c.db_system = 'postgresql'
                       THEN {NORMALISED_STATEMENT} END AS stmt
           FROM spans c JOIN servers sv
             ON c.trace_id = sv.trace_id AND c.start_unix_ns >= sv.s AND c.end_unix_ns <= sv.e
           WHERE c.db_system IN ('postgresql', 'redis')"""  # noqa: S608
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE per_request AS
           WITH siblings AS (
             -- Server spans under one client span (a redirect followed makes two or more).
             SELECT trace_id, parent_span_id, count(*) AS n, sum(e - s) AS ns
             FROM servers GROUP BY trace_id, parent_span_id),
           agg AS (
             SELECT server_id,
                    sum(e - s) FILTER (WHERE db_system = 'postgresql') AS db_ns,
                    count(*) FILTER (WHERE db_system = 'postgresql') AS db_n,
                    sum(e - s) FILTER (WHERE db_system = 'redis') AS redis_ns,
                    count(*) FILTER (WHERE db_system = 'redis') AS redis_n
             FROM children GROUP BY server_id)
           SELECT sv.route, sv.span_id, sv.trace_id, sv.e - sv.s AS server_ns,
                  -- The name the load test gave the request (Locust's client span), which
                  -- tells a search from a browse that share one server route.
                  json_extract_string(cl.attributes, '$."lab.request_name"') AS request_name,
                  cl.span_id AS client_id,
                  cl.end_unix_ns - cl.start_unix_ns AS client_ns,
                  -- This server span's share of its client's network and queueing time.
                  CASE WHEN cl.span_id IS NOT NULL THEN
                       greatest(cl.end_unix_ns - cl.start_unix_ns - sib.ns, 0) / sib.n
                  END AS network_ns,
                  coalesce(agg.db_ns, 0) AS db_ns, coalesce(agg.db_n, 0) AS db_n,
                  coalesce(agg.redis_ns, 0) AS redis_ns, coalesce(agg.redis_n, 0) AS redis_n
           FROM servers sv
           LEFT JOIN agg ON agg.server_id = sv.span_id
           LEFT JOIN siblings sib ON sib.trace_id = sv.trace_id
                                 AND sib.parent_span_id IS NOT DISTINCT FROM sv.parent_span_id
           LEFT JOIN spans cl ON cl.span_id = sv.parent_span_id AND cl.trace_id = sv.trace_id
                             AND cl.kind = 'CLIENT'"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE per_client AS
           -- One row per load-test request (client span): the whole request, redirects included.
           SELECT client_id AS span_id, any_value(trace_id) AS trace_id,
                  any_value(request_name) AS request_name, any_value(client_ns) AS client_ns,
                  sum(server_ns) AS server_ns, sum(network_ns) AS network_ns,
                  sum(db_ns) AS db_ns, sum(db_n) AS db_n,
                  sum(redis_ns) AS redis_ns, sum(redis_n) AS redis_n,
                  list(span_id) AS server_ids, list(DISTINCT route ORDER BY route) AS routes
           FROM per_request WHERE client_id IS NOT NULL GROUP BY client_id"""
    )


@dataclass(frozen=True)
class Breakdown:
    route: str
    requests: int
    server_p95_ms: float
    network_ms: float | None  # mean client - server, None without client spans
    app_ms: float
    db_ms: float
    redis_ms: float
    db_statements: float  # mean per request
    db_query_p95_ms: float | None

    @property
    def total_ms(self) -> float:
        return (self.network_ms or 0.0) + self.app_ms + self.db_ms + self.redis_ms

    def share(self, part: float | None) -> float:
        return (part or 0.0) / self.total_ms if self.total_ms > 0 else 0.0

    @property
    def dominant(self) -> str:
        parts = {
            "network+queue": self.network_ms or 0.0,
            "app code": self.app_ms,
            "database": self.db_ms,
            "redis": self.redis_ms,
        }
        return max(parts, key=lambda k: parts[k])


BREAKDOWN_TABLES = {"route": ("per_request", "route"), "name": ("per_client", "request_name")}


def breakdown(con: duckdb.DuckDBPyConnection, by: str = "route") -> list[Breakdown]:
    """Mean time per request in each part, by server route or by the load test's request name.

    By route, a row is one server span and holds only that span's own time. By name, a row is
    one Locust request (client span) with all its server spans, so a login POST that follows
    its redirect counts the dashboard too; only requests whose client span was archived count
    (`Breakdown.route` then holds the name).
    """
    table, column = BREAKDOWN_TABLES[by]
    servers_of = "[keyed.span_id]" if by == "route" else "keyed.server_ids"
    rows = con.execute(
        f"""WITH keyed AS (SELECT {column} AS k, * FROM {table} WHERE {column} IS NOT NULL),
                db AS (SELECT keyed.k, quantile_cont(c.e - c.s, 0.95) / 1e6 AS p95
                       FROM keyed, unnest({servers_of}) AS u(server_id)
                       JOIN children c ON c.server_id = u.server_id
                       WHERE c.db_system = 'postgresql' GROUP BY keyed.k)
           SELECT keyed.k, count(*), quantile_cont(server_ns, 0.95) / 1e6,
                  avg(network_ns) / 1e6,
                  avg(greatest(server_ns - db_ns - redis_ns, 0)) / 1e6,
                  avg(db_ns) / 1e6, avg(redis_ns) / 1e6, avg(db_n), any_value(db.p95)
           FROM keyed LEFT JOIN db ON db.k = keyed.k
           GROUP BY keyed.k ORDER BY avg(server_ns) * count(*) DESC"""  # noqa: S608 - fixed names
    ).fetchall()
    return [
        Breakdown(
            route=r[0],
            requests=int(r[1]),
            server_p95_ms=float(r[2]),
            network_ms=None if r[3] is None else float(r[3]),
            app_ms=float(r[4]),
            db_ms=float(r[5]),
            redis_ms=float(r[6]),
            db_statements=float(r[7]),
            db_query_p95_ms=None if r[8] is None else float(r[8]),
        )
        for r in rows
    ]


def db_query_p95_ms(con: duckdb.DuckDBPyConnection) -> tuple[int, float | None]:
    """(number of postgresql spans, their p95 in ms) over the whole run."""
    n, p95 = con.execute(
        "SELECT count(*), quantile_cont(end_unix_ns - start_unix_ns, 0.95) / 1e6 "
        "FROM spans WHERE db_system = 'postgresql'"
    ).fetchone()
    return int(n), None if p95 is None else float(p95)


@dataclass(frozen=True)
class Statement:
    statement: str
    calls: int
    total_ms: float
    mean_ms: float
    p95_ms: float
    routes: list[str]


def top_statements(con: duckdb.DuckDBPyConnection, limit: int = 15) -> list[Statement]:
    rows = con.execute(
        f"""SELECT stmt, count(*), sum(e - s) / 1e6, avg(e - s) / 1e6,
                   quantile_cont(e - s, 0.95) / 1e6, list(DISTINCT route ORDER BY route)
            FROM children WHERE db_system = 'postgresql'
            GROUP BY stmt ORDER BY sum(e - s) DESC LIMIT {limit}"""  # noqa: S608
    ).fetchall()
    return [
        Statement(r[0], int(r[1]), float(r[2]), float(r[3]), float(r[4]), list(r[5])) for r in rows
    ]
