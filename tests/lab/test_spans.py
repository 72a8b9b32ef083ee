"""Span analyses on synthetic traces: time breakdown, statement normalisation, N+1 rule."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lab import span_stats
from lab.rundata import open_run
from lab.sqlnorm import normalise, normalise_sql_expression
from lab.synthetic import DbCall, trace_spans, write_meta, write_span_part
from lab.targets import Targets

CATEGORY = 'SELECT "c"."id", "c"."name" FROM "inventory_category" "c" WHERE "c"."id" = {}'
ITEMS = 'SELECT * FROM "inventory_item" WHERE "tenant_id" = 1 AND "id" IN ({})'
DISTINCT = 'SELECT 1 FROM "table_{}"'  # table names differ: never the same statement
START_NS = 1_767_225_600_000_000_000


def _analyse(run_dir: Path) -> duckdb.DuckDBPyConnection:
    data = open_run(run_dir)
    span_stats.prepare(data.con)
    return data.con


def _run_with(tmp_path: Path, traces: list[list[dict]]) -> Path:
    run_dir = tmp_path / "20260101-000000-load-5a5a"
    write_meta(run_dir)
    write_span_part(run_dir, [span for trace in traces for span in trace])
    return run_dir


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t1 WHERE name = 'O''Brien 7'", "SELECT * FROM t1 WHERE name = ?"),
        ("SELECT a FROM t WHERE id IN (1, 2,  3, 4)", "SELECT a FROM t WHERE id IN (...)"),
        ("SELECT a FROM t WHERE id in ('a','b')", "SELECT a FROM t WHERE id IN (...)"),
        ("SELECT a  FROM t\n WHERE x = $1 AND y > 2.5", "SELECT a FROM t WHERE x = ? AND y > ?"),
    ],
)
def test_normalise_python_and_duckdb_agree(raw: str, expected: str) -> None:
    assert normalise(raw) == expected
    sql = f"SELECT {normalise_sql_expression('s')} FROM (SELECT ? AS s)"  # noqa: S608
    assert duckdb.execute(sql, [raw]).fetchone()[0] == expected


def test_breakdown_attributes_slow_search_to_the_database(tmp_path: Path) -> None:
    # slow_search: one sequential-scan query of 80 ms; the rest of the request is cheap.
    traces = [
        trace_spans(
            f"search-{i}",
            route="/pos/search/",
            start_ns=START_NS + i * 10**9,
            network_ms=2.0,
            app_ms=6.0,
            calls=[
                DbCall("SELECT 1 FROM session WHERE id = 5", 1.0),
                DbCall("SELECT * FROM inventory_item WHERE lower(name) LIKE '%ring%'", 80.0),
                DbCall("GET :1:session", 1.0, system="redis"),
            ],
        )
        for i in range(20)
    ]
    con = _analyse(_run_with(tmp_path, traces))
    (row,) = span_stats.breakdown(con)
    assert row.route == "/pos/search/"
    assert row.requests == 20
    assert row.dominant == "database"
    assert row.db_ms == pytest.approx(81.0)
    assert row.redis_ms == pytest.approx(1.0)
    assert row.app_ms == pytest.approx(6.0)
    assert row.network_ms == pytest.approx(2.0)
    assert row.db_statements == pytest.approx(2.0)
    assert row.share(row.db_ms) > 0.8
    (top, *_) = span_stats.top_statements(con)
    assert top.statement == "SELECT * FROM inventory_item WHERE lower(name) LIKE ?"
    assert top.routes == ["/pos/search/"]
    assert span_stats.db_query_p95_ms(con) == (40, pytest.approx(80.0))


def _inventory_trace(key: str, calls: list[DbCall], start_s: int = 0) -> list[dict]:
    return trace_spans(
        key,
        route="/inventory/",
        start_ns=START_NS + start_s * 10**9,
        network_ms=1,
        app_ms=4,
        calls=calls,
    )


def test_n_plus_one_found_with_example_trace(tmp_path: Path) -> None:
    looped = [DbCall(ITEMS.format("1, 2, 3"), 3.0)] + [
        DbCall(CATEGORY.format(i), 12.0) for i in range(6)
    ]
    clean = [DbCall(ITEMS.format("4, 5"), 3.0), DbCall(CATEGORY.format(9), 12.0)]
    traces = [_inventory_trace("bad-0", looped), _inventory_trace("bad-1", looped, 1)]
    traces += [_inventory_trace(f"ok-{i}", clean, 2 + i) for i in range(3)]
    con = _analyse(_run_with(tmp_path, traces))
    (finding,) = span_stats.n_plus_one(con, Targets())
    assert finding.route == "/inventory/"
    assert finding.statement == normalise(CATEGORY.format(1))
    assert (finding.requests_affected, finding.requests_total) == (2, 5)
    assert finding.max_repeats == 6
    assert finding.mean_total_ms == pytest.approx(72.0)
    assert finding.example_trace_id in {t[0]["trace_id"] for t in traces[:2]}


@pytest.mark.parametrize(
    "calls",
    [
        pytest.param([DbCall(CATEGORY.format(i), 20.0) for i in range(4)], id="four-repeats"),
        pytest.param([DbCall(CATEGORY.format(i), 5.0) for i in range(8)], id="total-under-50ms"),
        pytest.param(
            [DbCall(CATEGORY.format(i) if i < 4 else DISTINCT.format(i), 15.0) for i in range(10)],
            id="four-of-one-six-of-distinct",
        ),
    ],
)
def test_n_plus_one_negative_cases(tmp_path: Path, calls: list[DbCall]) -> None:
    con = _analyse(_run_with(tmp_path, [_inventory_trace("t", calls)]))
    assert span_stats.n_plus_one(con, Targets()) == []


def test_n_plus_one_ignores_overlapping_spans(tmp_path: Path) -> None:
    # Parallel (overlapping) queries are not a loop: shift every db span to overlap its predecessor.
    spans = _inventory_trace("par", [DbCall(CATEGORY.format(i), 20.0) for i in range(6)])
    for i, span in enumerate(s for s in spans if s["db_system"]):
        span["start_unix_ns"] -= i * 10_000_000
        span["end_unix_ns"] -= i * 10_000_000
    con = _analyse(_run_with(tmp_path, [spans]))
    assert span_stats.n_plus_one(con, Targets()) == []


def test_n_plus_one_found_when_two_lookups_interleave(tmp_path: Path) -> None:
    # A template touching item.category then item.branch per row: two interleaved loops.
    branch = 'SELECT "b"."id" FROM "tenants_branch" "b" WHERE "b"."id" = {}'
    calls = [DbCall((CATEGORY if i % 2 else branch).format(i), 12.0) for i in range(12)]
    con = _analyse(_run_with(tmp_path, [_inventory_trace("mix", calls)]))
    findings = span_stats.n_plus_one(con, Targets())
    assert sorted(f.statement for f in findings) == sorted(
        [normalise(CATEGORY.format(1)), normalise(branch.format(1))]
    )
    assert all(f.max_repeats == 6 for f in findings)
