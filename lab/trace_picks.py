"""Which traces the report draws as waterfalls: the slowest traced requests of each route.

A request's time is what Locust saw (its CLIENT span) when that span was archived, else the
Django server span's. Only SERVER spans and their parent CLIENT spans are read, so the
choice costs two filtered scans of the span table, never a materialised copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from lab.span_stats import ROUTE_SQL

SLOWEST_PER_ROUTE = 3


@dataclass(frozen=True)
class TracePick:
    route: str
    trace_id: str
    duration_ms: float
    rank: int  # 1 = the route's slowest traced request


def slowest_per_route(
    con: duckdb.DuckDBPyConnection, per_route: int = SLOWEST_PER_ROUTE, source: str = "spans"
) -> list[TracePick]:
    """The `per_route` slowest traced requests of every server route, slowest route first."""
    rows = con.execute(
        f"""WITH servers AS (
              SELECT trace_id, parent_span_id, {ROUTE_SQL} AS route,
                     end_unix_ns - start_unix_ns AS server_ns
              FROM {source} WHERE kind = 'SERVER'),
            clients AS (
              SELECT trace_id, span_id, end_unix_ns - start_unix_ns AS client_ns
              FROM {source} WHERE kind = 'CLIENT' AND service_name = 'locust'),
            timed AS (
              SELECT sv.route, sv.trace_id,
                     greatest(coalesce(cl.client_ns, 0), sv.server_ns) AS ns
              FROM servers sv LEFT JOIN clients cl
                ON cl.span_id = sv.parent_span_id AND cl.trace_id = sv.trace_id),
            ranked AS (
              SELECT route, trace_id, ns,
                     row_number() OVER (PARTITION BY route ORDER BY ns DESC, trace_id) AS rank
              FROM timed)
           SELECT route, trace_id, ns / 1e6, rank FROM ranked WHERE rank <= {int(per_route)}
           ORDER BY max(ns) OVER (PARTITION BY route) DESC, route, rank"""  # noqa: S608
    ).fetchall()
    return [TracePick(r[0], r[1], float(r[2]), int(r[3])) for r in rows]
