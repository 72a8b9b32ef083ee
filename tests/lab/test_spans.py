"""Span analyses on synthetic traces: time breakdown, statement normalisation, N+1 rule."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from lab import span_stats
from lab.n_plus_one import find_n_plus_one
from lab.rundata import open_run
from lab.sqlnorm import normalise, normalise_sql_expression
from lab.targets import Targets
from tests.synthetic import DbCall, trace_spans, write_meta, write_span_part

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


def _inventory_trace(key: str, calls: list[DbCall], start_s: int = 0, name: str = "") -> list[dict]:
    spans = trace_spans(
        key,
        route="/inventory/",
        start_ns=START_NS + start_s * 10**9,
        network_ms=1,
        app_ms=4,
        calls=calls,
    )
    if name:  # the Locust request name lives on the client span
        spans[0]["attributes"] = json.dumps({"lab.run_id": "synthetic", "lab.request_name": name})
    return spans


def test_n_plus_one_found_with_example_trace_share_and_total(tmp_path: Path) -> None:
    looped = [DbCall(ITEMS.format("1, 2, 3"), 3.0)] + [
        DbCall(CATEGORY.format(i), 12.0) for i in range(6)
    ]
    clean = [DbCall(ITEMS.format("4, 5"), 3.0), DbCall(CATEGORY.format(9), 12.0)]
    traces = [_inventory_trace("bad-0", looped), _inventory_trace("bad-1", looped, 1)]
    traces += [_inventory_trace(f"ok-{i}", clean, 2 + i) for i in range(3)]
    con = _analyse(_run_with(tmp_path, traces))
    (finding,) = find_n_plus_one(con, Targets())
    assert finding.route == "/inventory/"
    assert finding.statement == normalise(CATEGORY.format(1))
    assert (finding.requests_affected, finding.requests_total) == (2, 5)
    assert finding.where() == "in 2 of 5 traced requests"
    assert finding.max_repeats == 6
    assert finding.mean_total_ms == pytest.approx(72.0)
    assert finding.total_ms == pytest.approx(144.0)
    # Server time: 2 x (4 app + 3 + 72) + 3 x (4 + 3 + 12) = 215 ms, 144 of them the loop.
    assert finding.share_of_time == pytest.approx(144.0 / 215.0)
    assert finding.example_trace_id in {t[0]["trace_id"] for t in traces[:2]}


@pytest.mark.parametrize(
    ("repeats", "ms_each", "min_total_ms", "found"),
    [
        pytest.param(5, 0.1, 0.0, True, id="five-fast-repeats-found-whatever-the-time"),
        pytest.param(4, 30.0, 0.0, False, id="four-slow-repeats-are-not-a-loop"),
        pytest.param(5, 10.0, 50.0, True, id="total-exactly-at-min-total-found"),
        pytest.param(5, 9.9, 50.0, False, id="total-just-under-min-total"),
    ],
)
def test_n_plus_one_edges(
    tmp_path: Path, repeats: int, ms_each: float, min_total_ms: float, found: bool
) -> None:
    calls = [DbCall(CATEGORY.format(i), ms_each) for i in range(repeats)]
    con = _analyse(_run_with(tmp_path, [_inventory_trace("edge", calls)]))
    targets = Targets(n_plus_one_min_total_ms=min_total_ms)
    findings = find_n_plus_one(con, targets)
    assert [f.max_repeats for f in findings] == ([repeats] if found else [])


def test_n_plus_one_distinct_statements_are_not_a_loop(tmp_path: Path) -> None:
    calls = [DbCall(CATEGORY.format(i) if i < 4 else DISTINCT.format(i), 15.0) for i in range(10)]
    con = _analyse(_run_with(tmp_path, [_inventory_trace("t", calls)]))
    assert find_n_plus_one(con, Targets()) == []


def test_n_plus_one_ignores_overlapping_spans(tmp_path: Path) -> None:
    # Parallel (overlapping) queries are not a loop: shift every db span to overlap its predecessor.
    spans = _inventory_trace("par", [DbCall(CATEGORY.format(i), 20.0) for i in range(6)])
    for i, span in enumerate(s for s in spans if s["db_system"]):
        span["start_unix_ns"] -= i * 10_000_000
        span["end_unix_ns"] -= i * 10_000_000
    con = _analyse(_run_with(tmp_path, [spans]))
    assert find_n_plus_one(con, Targets()) == []


DJANGO_FK = (
    'SELECT "{t}"."id", "{t}"."name" FROM "{t}" WHERE "{t}"."id" = {i} LIMIT 21 '
    "/*db_driver='psycopg2',traceparent='00-{i:032x}-{i:016x}-01'*/"
)


def test_n_plus_one_interleaved_lookups_by_route_and_name_with_the_fix(tmp_path: Path) -> None:
    # A template touching item.category then item.branch per row: two interleaved loops.
    calls = [
        DbCall(DJANGO_FK.format(t="inventory_category" if i % 2 else "tenants_branch", i=i), 1.0)
        for i in range(12)
    ]
    traces = [_inventory_trace(f"mix-{n}", calls, n, name="/inventory/") for n in range(3)]
    traces.append(_inventory_trace("browse", calls[:2], 5, name="/inventory/?page=[n]"))
    con = _analyse(_run_with(tmp_path, traces))
    by_route = find_n_plus_one(con, Targets())
    assert {f.statement.split(" FROM ")[1].split()[0] for f in by_route} == {
        '"inventory_category"',
        '"tenants_branch"',
    }
    for finding in by_route:
        assert (finding.max_repeats, finding.requests_affected, finding.requests_total) == (6, 3, 4)
        assert finding.fix is not None
        assert "select_related(" in finding.fix
        assert "'category'" in finding.fix
        assert "'branch'" in finding.fix
    by_name = find_n_plus_one(con, Targets(), by="name")
    assert {f.route for f in by_name} == {"/inventory/"}
    assert all(f.where() == "in 3 of 3 traced requests" for f in by_name)


def test_n_plus_one_other_repeats_get_no_select_related_hint(tmp_path: Path) -> None:
    calls = [DbCall(ITEMS.format(i), 1.0) for i in range(6)]
    con = _analyse(_run_with(tmp_path, [_inventory_trace("in", calls)]))
    (finding,) = find_n_plus_one(con, Targets())
    assert finding.fix is None


def _redirect_trace(key: str, start_s: int) -> list[dict]:
    """A login POST (60 ms server, 10 ms of it in the database) that follows its redirect to
    /dashboard/ (15 ms server, 5 ms database) inside one 100 ms Locust client span."""
    spans = trace_spans(
        key,
        route="/accounts/login/",
        start_ns=START_NS + start_s * 10**9,
        network_ms=10.0,
        app_ms=50.0,
        calls=[DbCall("SELECT 1 FROM auth_user WHERE id = 1", 10.0)],
    )
    client, login = spans[0], spans[1]
    client["attributes"] = json.dumps({"lab.run_id": "synthetic", "lab.request_name": "login"})
    dashboard = trace_spans(
        key + "-dash",
        route="/dashboard/",
        start_ns=login["end_unix_ns"] + 2_500_000,
        network_ms=5.0,
        app_ms=10.0,
        calls=[DbCall("SELECT 2 FROM dashboard_stats", 5.0)],
    )[1:]
    for span in dashboard:
        span["trace_id"] = client["trace_id"]
    dashboard[0]["parent_span_id"] = client["span_id"]
    client["end_unix_ns"] = client["start_unix_ns"] + 100_000_000
    return spans + dashboard


def test_redirect_time_adds_up_by_name_and_goes_to_each_route(tmp_path: Path) -> None:
    traces = [_redirect_trace(f"r{i}", i) for i in range(4)]
    con = _analyse(_run_with(tmp_path, traces))
    (by_name,) = span_stats.breakdown(con, by="name")
    assert by_name.route == "login"
    # 100 ms client = 60 + 15 ms of server spans + 25 ms network and queueing.
    assert by_name.network_ms == pytest.approx(25.0)
    assert by_name.db_ms == pytest.approx(15.0)
    assert by_name.app_ms == pytest.approx(60.0)
    assert by_name.total_ms == pytest.approx(100.0)
    routes = {b.route: b for b in span_stats.breakdown(con)}
    dash, login = routes["/dashboard/"], routes["/accounts/login/"]
    assert dash.app_ms + dash.db_ms == pytest.approx(15.0)  # its own server time only
    assert login.app_ms + login.db_ms == pytest.approx(60.0)
    # The 25 ms of network and queueing split between the two round trips, never the
    # login's time charged to the dashboard.
    assert dash.network_ms == pytest.approx(12.5)
    assert login.network_ms == pytest.approx(12.5)
