"""Run folders made of generated records with known distributions.

Used by the tests (exact, hand-built records and traces) and by the benchmark
(millions of rows generated inside DuckDB, written as Parquet parts that follow
docs/architecture.md). Nothing here talks to a network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lab.contract import RunFolder, atomic_write
from lab.schemas import REQUEST_SCHEMA, SPAN_SCHEMA, TRANSACTION_SCHEMA

US_PER_S = 1_000_000
NS_PER_MS = 1_000_000


def _atomic_parquet(table: pa.Table, path: Path) -> Path:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write(path, sink.getvalue().to_pybytes())
    return path


def write_request_part(
    run_dir: Path, rows: Sequence[dict[str, Any]], worker_id: str = "local", seq: int = 0
) -> Path:
    """One `requests/<worker>/part-<seq>.parquet` from dicts (missing keys become null)."""
    table = pa.Table.from_pylist([dict(r) for r in rows], schema=REQUEST_SCHEMA)
    return _atomic_parquet(
        table, RunFolder(run_dir).worker_requests(worker_id) / f"part-{seq:06d}.parquet"
    )


def write_transaction_part(
    run_dir: Path, rows: Sequence[dict[str, Any]], worker_id: str = "local", seq: int = 0
) -> Path:
    """One `transactions/<worker>/part-<seq>.parquet` from dicts (missing keys become null)."""
    table = pa.Table.from_pylist([dict(r) for r in rows], schema=TRANSACTION_SCHEMA)
    return _atomic_parquet(
        table, RunFolder(run_dir).worker_transactions(worker_id) / f"part-{seq:06d}.parquet"
    )


def transaction_rows(
    name: str,
    durations_ms: Iterable[float],
    *,
    start_us: int,
    spacing_us: int = 1_000_000,
    failures: int = 0,
    trace_ids: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    """Workflow transactions `name` of the given durations; the first `failures` failed."""
    return [
        {
            "ts_start_us": start_us + i * spacing_us,
            "scenario": "POSSaleWorkflow",
            "name": name,
            "duration_us": round(ms * 1000),
            "requests": 6,
            "failure": "TenantLeak: tenant 2 data shown to tenant 1" if i < failures else None,
            "worker_id": "local",
            "tenant_id": 1 + i % 3,
            "trace_id": trace_ids[i] if trace_ids else None,
            "run_id": "synthetic",
        }
        for i, ms in enumerate(durations_ms)
    ]


def write_span_part(run_dir: Path, rows: Sequence[dict[str, Any]], seq: int = 0) -> Path:
    table = pa.Table.from_pylist([dict(r) for r in rows], schema=SPAN_SCHEMA)
    part = RunFolder(run_dir).spans / f"part-1700000000000000000-{seq:06d}.parquet"
    return _atomic_parquet(table, part)


def request_rows(
    name: str,
    latencies_ms: Iterable[float],
    *,
    start_us: int,
    spacing_us: int = 10_000,
    run_id: str = "synthetic",
    method: str = "GET",
    failures: int = 0,
    trace_ids: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    """Records for `name` with the given latencies; the first `failures` of them failed."""
    rows = []
    for i, ms in enumerate(latencies_ms):
        failed = i < failures
        rows.append(
            {
                "ts_start_us": start_us + i * spacing_us,
                "scenario": "TenantUser",
                "name": name,
                "method": method,
                "status": 500 if failed else 200,
                "response_time_us": round(ms * 1000),
                "bytes": 1024,
                "failure": "HTTPError 500" if failed else None,
                "worker_id": "local",
                "tenant_id": 1 + i % 3,
                "trace_id": trace_ids[i] if trace_ids else None,
                "run_id": run_id,
            }
        )
    return rows


def hex_id(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class DbCall:
    """One database (or Redis) call inside a server span."""

    statement: str
    ms: float
    system: str = "postgresql"


def trace_spans(
    trace_key: str,
    *,
    route: str,
    start_ns: int,
    network_ms: float,
    app_ms: float,
    calls: Sequence[DbCall],
    run_id: str = "synthetic",
) -> list[dict[str, Any]]:
    """A Locust CLIENT span, its Django SERVER span, and sequential db/Redis child spans.

    Server time = app_ms + sum(calls); client time = server time + network_ms.
    """
    trace_id = hex_id("trace" + trace_key, 32)
    client_id, server_id = hex_id("c" + trace_key, 16), hex_id("s" + trace_key, 16)
    server_start = start_ns + round(network_ms * NS_PER_MS / 2)
    cursor = server_start + round(app_ms * NS_PER_MS / 2)
    children = []
    for i, call in enumerate(calls):
        end = cursor + round(call.ms * NS_PER_MS)
        children.append(
            _span(
                trace_id,
                hex_id(f"d{trace_key}-{i}", 16),
                server_id,
                call.statement.split(" ")[0],
                "jewelry-app",
                "CLIENT",
                cursor,
                end,
                run_id,
                db_system=call.system,
                db_statement=call.statement,
            )
        )
        cursor = end
    server_end = cursor + round(app_ms * NS_PER_MS / 2)
    client_end = server_end + round(network_ms * NS_PER_MS / 2)
    server = _span(
        trace_id,
        server_id,
        client_id,
        f"GET {route}",
        "jewelry-app",
        "SERVER",
        server_start,
        server_end,
        run_id,
        http_route=route,
        http_status=200,
    )
    client = _span(
        trace_id,
        client_id,
        hex_id("t" + trace_key, 16),
        f"GET {route}",
        "locust",
        "CLIENT",
        start_ns,
        client_end,
        run_id,
        http_status=200,
    )
    return [client, server, *children]


def _span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    service: str,
    kind: str,
    start: int,
    end: int,
    run_id: str,
    **extra: Any,
) -> dict[str, Any]:
    row = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service_name": service,
        "kind": kind,
        "start_unix_ns": start,
        "end_unix_ns": end,
        "status_code": "UNSET",
        "run_id": run_id,
        "http_route": None,
        "http_status": None,
        "db_system": None,
        "db_statement": None,
        "attributes": json.dumps({"lab.run_id": run_id}),
    }
    row.update(extra)
    return row


def write_meta(run_dir: Path, **fields: Any) -> Path:
    """A meta.json for a synthetic run: completed unless told otherwise."""
    meta = {
        "run_id": run_dir.name,
        "profile": "load",
        "scale": "small",
        "users": 50,
        "spawn_rate": 10,
        "duration": "5m",
        "status": "completed",
        "started_at": "2026-01-01T00:00:00+00:00",
        "ended_at": "2026-01-01T00:05:00+00:00",
        "target": "http://127.0.0.1:8000",
    }
    meta.update(fields)
    path = RunFolder(run_dir).meta
    atomic_write(path, json.dumps(meta, indent=2))
    return path


# Bulk generation (benchmark): names with log-normal latencies, generated in DuckDB.
BULK_NAMES: tuple[tuple[str, str, float, float], ...] = (
    # name, method, median ms, sigma
    ("/dashboard/", "GET", 120.0, 0.5),
    ("/inventory/", "GET", 180.0, 0.6),
    ("/inventory/[id]", "GET", 60.0, 0.4),
    ("/customers/", "GET", 90.0, 0.5),
    ("/sales/", "GET", 110.0, 0.5),
    ("/pos/search/", "GET", 40.0, 0.7),
    ("/api/inventory/", "GET", 70.0, 0.5),
    ("/api/sales/", "POST", 150.0, 0.5),
    ("/api/dashboard/stats/", "GET", 30.0, 0.4),
    ("/accounts/login/", "POST", 250.0, 0.3),
)


def generate_bulk_requests(
    run_dir: Path,
    n: int,
    *,
    start_us: int,
    duration_s: float,
    parts: int = 10,
    workers: int = 2,
    run_id: str = "synthetic",
    seed: float = 0.42,
) -> None:
    """`n` request records spread evenly over `duration_s`, 0.5 % failures, 10 % traced."""
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute(f"SELECT setseed({seed})")
    names = ", ".join(f"('{n_}', '{m}', {med}, {sig})" for n_, m, med, sig in BULK_NAMES)
    spacing = duration_s * US_PER_S / max(n, 1)
    per_part = -(-n // parts)
    for part in range(parts):
        lo, hi = part * per_part, min(n, (part + 1) * per_part)
        if lo >= hi:
            break
        worker = f"worker-{part % workers}"
        out = RunFolder(run_dir).worker_requests(worker) / f"part-{part:06d}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        sql = f"""
        COPY (
          WITH names(name, method, median_ms, sigma) AS (VALUES {names}),
          numbered AS (SELECT row_number() OVER () - 1 AS k, * FROM names),
          r AS (SELECT i, random() AS u1, random() AS u2, random() AS uf
                FROM range({lo}, {hi}) t(i))
          SELECT CAST({start_us} + i * {spacing} AS BIGINT) AS ts_start_us,
                 'TenantUser' AS scenario, name, method,
                 CAST(CASE WHEN uf < 0.005 THEN 500 ELSE 200 END AS INTEGER) AS status,
                 CAST(1000 * median_ms * exp(sigma * sqrt(-2 * ln(greatest(u1, 1e-12)))
                      * cos(2 * pi() * u2)) AS BIGINT) AS response_time_us,
                 CAST(2048 AS BIGINT) AS bytes,
                 CASE WHEN uf < 0.005 THEN 'HTTPError 500' END AS failure,
                 '{worker}' AS worker_id, CAST(1 + i % 20 AS BIGINT) AS tenant_id,
                 CASE WHEN i % 10 = 0 THEN md5('trace' || i) END AS trace_id,
                 '{run_id}' AS run_id
          FROM r JOIN numbered ON numbered.k = r.i % {len(BULK_NAMES)}
        ) TO '{out}' (FORMAT parquet)
        """  # noqa: S608 - generated from trusted constants
        con.execute(sql)


def generate_bulk_spans(
    run_dir: Path,
    n: int,
    *,
    start_us: int,
    duration_s: float,
    parts: int = 10,
    run_id: str = "synthetic",
) -> None:
    """About `n` spans: traces of client + server + 1 Redis + k database spans.

    `/inventory/` repeats one category lookup 11 times (an N+1, 4-8 ms each);
    `/pos/search/` runs one slow 30-60 ms search; other routes run 3 distinct queries.
    """
    routes = (
        # route, db spans, slot ms, same statement (N+1)
        ("/inventory/", 11, 8.0, True),
        ("/pos/search/", 1, 60.0, False),
        ("/dashboard/", 3, 3.0, False),
        ("/api/inventory/", 3, 3.0, False),
    )
    spans_per_trace = sum(2 + 1 + r[1] for r in routes) / len(routes)
    traces = max(1, int(n / spans_per_trace))
    values = ", ".join(
        f"({i}, '{r}', {k}, {slot}, {str(same).lower()})"
        for i, (r, k, slot, same) in enumerate(routes)
    )
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute("SELECT setseed(0.17)")
    spacing_ns = duration_s * 1e9 / traces
    per_part = -(-traces // parts)
    for part in range(parts):
        lo, hi = part * per_part, min(traces, (part + 1) * per_part)
        if lo >= hi:
            break
        out = RunFolder(run_dir).spans / f"part-{start_us * 1000 + part}-{part:06d}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        sql = f"""
        COPY (
          WITH routes(rid, route, k, slot_ms, same) AS (VALUES {values}),
          tr AS MATERIALIZED (
            SELECT t, route, k, slot_ms, same,
                   CAST({start_us * 1000} + t * {spacing_ns} AS BIGINT) AS base,
                   CAST((1 + random() * 4) * 1e6 AS BIGINT) AS net,
                   CAST((2 + random() * 10) * 1e6 AS BIGINT) AS app,
                   md5('trace' || t) AS trace_id
            FROM range({lo}, {hi}) x(t) JOIN routes ON routes.rid = t % {len(routes)}
          ),
          sp AS (SELECT *, unnest(range(k + 3)) AS j FROM tr),
          timed AS (
            SELECT *,
              base + net // 2 AS s_start,
              base + net // 2 + app + 2000000 + CAST(k * slot_ms * 1e6 AS BIGINT) AS s_end
            FROM sp
          )
          SELECT trace_id,
            substr(md5(trace_id || '-' || j), 1, 16) AS span_id,
            CASE WHEN j = 0 THEN NULL
                 WHEN j = 1 THEN substr(md5(trace_id || '-0'), 1, 16)
                 ELSE substr(md5(trace_id || '-1'), 1, 16) END AS parent_span_id,
            CASE WHEN j = 0 THEN 'GET ' || route WHEN j = 1 THEN 'GET ' || route
                 WHEN j = 2 THEN 'GET' ELSE 'SELECT' END AS name,
            CASE WHEN j = 0 THEN 'locust' ELSE 'jewelry-app' END AS service_name,
            CASE WHEN j = 1 THEN 'SERVER' ELSE 'CLIENT' END AS kind,
            CASE WHEN j = 0 THEN base
                 WHEN j = 1 THEN s_start
                 WHEN j = 2 THEN s_start + app // 2
                 ELSE s_start + app // 2 + 2000000 + CAST((j - 3) * slot_ms * 1e6 AS BIGINT)
            END AS start_unix_ns,
            CASE WHEN j = 0 THEN s_end + net - net // 2
                 WHEN j = 1 THEN s_end
                 WHEN j = 2 THEN s_start + app // 2 + 1000000
                 ELSE s_start + app // 2 + 2000000 + CAST((j - 3) * slot_ms * 1e6 AS BIGINT)
                      + CAST(slot_ms * (0.5 + random() / 2) * 1e6 AS BIGINT)
            END AS end_unix_ns,
            'UNSET' AS status_code, '{run_id}' AS run_id,
            CASE WHEN j = 1 THEN route END AS http_route,
            CAST(CASE WHEN j <= 1 THEN 200 END AS INTEGER) AS http_status,
            CASE WHEN j = 2 THEN 'redis' WHEN j >= 3 THEN 'postgresql' END AS db_system,
            CASE WHEN j = 2 THEN 'GET :1:session:' || t
                 WHEN j >= 3 AND same THEN
                   'SELECT "cat"."id", "cat"."name" FROM "inventory_category" "cat" '
                   || 'WHERE "cat"."id" = '
                   || ((t * 31 + j) % 500)
                 WHEN j >= 3 THEN
                   'SELECT * FROM "table_' || j || '" WHERE "tenant_id" = ' || (t % 20)
                   || ' AND "id" IN (' || t || ', ' || (t + 1) || ', ' || (t + 2) || ')'
            END AS db_statement,
            '{{"lab.run_id": "{run_id}"}}' AS attributes
          FROM timed
        ) TO '{out}' (FORMAT parquet)
        """  # noqa: S608 - generated from trusted constants
        con.execute(sql)
