"""Waterfalls from the span archive: the model, `lab trace`, and the report's inline section."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab.waterfall import build
from lab.waterfall_text import render
from tests.lab.conftest import CliResult
from tests.lab.traces import START_NS, n_plus_one_trace, task_trace
from tests.synthetic import (
    DbCall,
    request_rows,
    write_meta,
    write_request_part,
    write_span_part,
)


def test_rows_follow_the_tree_with_offsets_durations_and_the_app_code_gap() -> None:
    spans = n_plus_one_trace("a")
    w = build(spans[0]["trace_id"], spans)
    spans_only = [r for r in w.rows if not r.is_gap]
    assert [r.category for r in spans_only[:4]] == ["task", "request", "server", "sql"]
    assert [r.depth for r in spans_only[:4]] == [0, 1, 2, 3]
    assert w.title == "GET /inventory/"
    assert w.span_count == len(spans) == 17
    server = spans_only[2]
    # trace_spans: server = app_ms + sum(calls) = 20 + 3 + 24 + 0.5; the client starts 1 ms
    # after the task and the server 1 ms (half the network time) after the client.
    assert server.duration_ms == pytest.approx(47.5)
    assert server.offset_ms == pytest.approx(2.0)
    sql = [r for r in w.rows if r.category == "sql"]
    assert len(sql) == 13
    # The normalised statement, literals gone: twelve identical N+1 rows.
    assert (
        sum(
            r.label == 'SELECT "c"."name" FROM "inventory_category" "c" WHERE "c"."id" = ?'
            for r in sql
        )
        == 12
    )
    assert sql[1].offset_ms == pytest.approx(sql[0].offset_ms + 3.0)
    # App code before and after the queries (10 ms each), inside the server span.
    gaps = [r for r in w.rows if r.is_gap and r.label == "app code (no span)"]
    assert [round(g.duration_ms, 1) for g in gaps] == [10.0, 10.0]
    assert all(g.depth == 3 for g in gaps)
    assert w.total_ms == pytest.approx(spans[0]["end_unix_ns"] / 1e6 - START_NS / 1e6)


def test_no_gap_rows_when_children_cover_the_span() -> None:
    spans = task_trace(
        "b", route="/dashboard/", start_ns=START_NS, calls=[DbCall("SELECT 1", 5.0)], app_ms=0.0
    )
    w = build(spans[0]["trace_id"], spans)
    assert not [r for r in w.rows if r.is_gap and r.label == "app code (no span)"]


def test_orphans_and_cycles_still_draw_every_span_once() -> None:
    spans = n_plus_one_trace("c", repeats=2)
    spans[2]["parent_span_id"] = "f" * 16  # the server's parent was never archived
    spans[0]["parent_span_id"] = spans[1]["span_id"]  # task <-> client: a cycle
    w = build(spans[0]["trace_id"], spans)
    drawn = [r for r in w.rows if not r.is_gap]
    assert len(drawn) == len(spans)
    # The orphaned server span becomes a root with its queries under it.
    (server,) = [r for r in drawn if r.category == "server"]
    assert server.depth == 0
    assert {r.depth for r in drawn if r.category == "sql"} == {1}
    assert sum(r.category == "task" for r in drawn) == 1


def test_terminal_rendering_scales_bars_to_the_trace() -> None:
    spans = n_plus_one_trace("d")
    text = render(build(spans[0]["trace_id"], spans), columns=140)
    lines = text.splitlines()
    assert lines[0].startswith(f"trace {spans[0]['trace_id']}")
    bars = [line.split("|")[1] for line in lines[2:]]
    assert bars[0] == "█" * 32  # the task spans the whole trace
    assert all(len(bar) == 32 for bar in bars)
    assert any("app code (no span)" in line and "░" in line for line in lines)
    assert all(len(line) <= 140 for line in lines)
    narrow = render(build(spans[0]["trace_id"], spans), columns=80).splitlines()
    assert all(len(line) <= 80 for line in narrow)
    assert [line[19:37].strip() for line in narrow[2:5]] == ["locust INTERNAL", "", "locust CLIENT"]


def _run(root: Path, run_id: str, traces: list[list[dict[str, Any]]]) -> Path:
    run_dir = root / run_id
    write_meta(run_dir)
    write_span_part(run_dir, [s for t in traces for s in t])
    return run_dir


def test_lab_trace_finds_the_run_and_draws_the_waterfall(
    runs_root: Path, lab_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the terminal's width: whole statements fit
    older = n_plus_one_trace("old")
    wanted = n_plus_one_trace("wanted", repeats=3)
    _run(runs_root, "20260101-000000-load-0001", [older])
    _run(runs_root, "20260102-000000-load-0002", [wanted])
    trace_id = wanted[0]["trace_id"]
    result = lab_cli("trace", trace_id.upper())
    assert result.code == 0, result.err
    assert result.out.startswith(f"trace {trace_id}")
    assert "TenantUser.browse_inventory" in result.out
    assert result.out.count("inventory_category") == 3
    assert sum(line[19:37].strip() == "postgresql" for line in result.out.splitlines()) == 4
    assert "GET :?:session:abc" in result.out
    # --run restricts the search: the other run does not hold it.
    miss = lab_cli("trace", trace_id, "--run", "20260101-000000-load-0001")
    assert miss.code == 2
    assert (
        miss.err.strip()
        == f"lab trace: trace {trace_id} not found in run 20260101-000000-load-0001"
    )
    hit = lab_cli("trace", older[0]["trace_id"], "--run", "20260101-000000-load-0001")
    assert hit.code == 0
    assert hit.out.count("inventory_category") == 12


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("0" * 32, "lab trace: trace 00000000000000000000000000000000 not found in any run"),
        ("not-a-trace", "lab trace: 'not-a-trace' is not a trace id (32 hex digits"),
    ],
)
def test_lab_trace_bad_or_unknown_id_is_one_line_exit_2(
    runs_root: Path, lab_cli: Callable[..., CliResult], argument: str, message: str
) -> None:
    _run(runs_root, "20260101-000000-load-0001", [n_plus_one_trace("x")])
    before = sorted(p for p in runs_root.rglob("*"))
    result = lab_cli("trace", argument)
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert result.err.startswith(message)
    assert sorted(p for p in runs_root.rglob("*")) == before


def test_report_draws_the_slowest_traces_per_route_and_the_n_plus_one_example(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    traces = [n_plus_one_trace(f"inv-{i}", START_NS + i * 10**9, repeats=10 + i) for i in range(5)]
    traces += [
        task_trace(
            f"dash-{i}",
            route="/dashboard/",
            start_ns=START_NS + i * 10**9 + 5 * 10**8,
            calls=[DbCall("SELECT count(*) FROM sales_sale", 4.0 + i)],
        )
        for i in range(5)
    ]
    run_dir = _run(runs_root, "20260101-000000-load-0003", traces)
    for seq, name in enumerate(("/inventory/", "/dashboard/")):
        mine = [t for t in traces if t[2]["http_route"] == name]
        rows = request_rows(
            name,
            [(t[1]["end_unix_ns"] - t[1]["start_unix_ns"]) / 1e6 for t in mine],
            start_us=START_NS // 1000,
            spacing_us=10**6,
            trace_ids=[t[0]["trace_id"] for t in mine],
        )
        write_request_part(run_dir, rows, seq=seq)
    result = lab_cli("report", run_dir.name, "--set", "n_plus_one_min_total_ms=10")
    assert result.code in (0, 1), result.err
    html = (run_dir / "report.html").read_text()
    section = html[html.index("<h2 id='waterfalls'>") :]
    drawn = re.findall(r"<details class='trace' id='trace-([0-9a-f]{32})'", section)
    assert len(drawn) == len(set(drawn)) == 10  # each trace once, however often it is listed

    def group(route: str) -> list[str]:
        text = section.split(f"<h3>Slowest traced requests of {route}</h3>")[1].split("<h3>")[0]
        return re.findall(r"trace-([0-9a-f]{32})", text)

    slowest_inventory = traces[4][0]["trace_id"]  # most repeats: the slowest
    # The three slowest of each route, slowest first.
    assert group("/inventory/") == [traces[i][0]["trace_id"] for i in (4, 3, 2)]
    assert group("/dashboard/") == [traces[i][0]["trace_id"] for i in (9, 8, 7)]
    # The N+1 finding's example trace links to its waterfall in the page.
    n_plus_one = html[html.index("<h2>N+1 findings</h2>") : html.index("<h2>Slowest requests")]
    assert f'href="#trace-{slowest_inventory}"' in n_plus_one
    block = section[section.index(f"id='trace-{slowest_inventory}'") :].split("</details>")[0]
    assert block.count("<tr class='sql'>") == 15  # 1 item list + 14 category lookups
    assert "<tr class='server'>" in block
    assert "<tr class='task'>" in block
    assert "<tr class='redis'>" in block
    assert "app code (no span)" in block
    # Self-contained: nothing loaded from elsewhere (no CDN, no script, no stylesheet link).
    assert "<script" not in html
    assert "<link" not in html
    assert " src=" not in html


def test_report_counts_the_slowest_requests_that_have_an_archived_trace(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    # /inventory/: 12 requests, the 10 slowest all traced and archived.
    # /dashboard/: 12 requests; of its 10 slowest, 4 carry no trace id (head sampling said
    # no) and 2 carry an id whose spans never reached the archive.
    traces = [n_plus_one_trace(f"cov-{i}", START_NS + i * 10**9, repeats=3) for i in range(12)]
    run_dir = _run(runs_root, "20260101-000000-load-0004", traces)
    inventory_ids: list[str | None] = [t[0]["trace_id"] for t in traces]
    dashboard_ids: list[str | None] = [None] * 4 + [f"{i:032x}" for i in range(2)]
    dashboard_ids += [t[0]["trace_id"] for t in traces[:6]]
    rows = request_rows(
        "/inventory/", [100.0 + i for i in range(12)], start_us=START_NS // 1000,
        trace_ids=inventory_ids,
    )  # fmt: skip
    # Dashboard latencies descending: the first 10 are its slowest.
    rows += request_rows(
        "/dashboard/", [500.0 - i for i in range(12)], start_us=START_NS // 1000,
        trace_ids=dashboard_ids,
    )  # fmt: skip
    write_request_part(run_dir, rows)
    result = lab_cli("report", run_dir.name)
    assert result.code in (0, 1), result.err
    digest = json.loads((run_dir / "report.json").read_text())
    by_name = {n["name"]: n for n in digest["slowest_traced"]["names"]}
    assert by_name["/inventory/"]["traced"] == 10
    assert by_name["/dashboard/"]["traced"] == 4  # ranks 7-10 of its 10 slowest
    assert digest["slowest_traced"] == {**digest["slowest_traced"], "traced": 14, "of": 20}
    html = (run_dir / "report.html").read_text()
    assert "slowest requests traced: 14 of 20 (the top 10 of each of 2 request names)" in html
    assert "<td>GET /dashboard/</td><td>4 of 10</td>" in html
    assert "<td>GET /inventory/</td>" not in html.split("slowest requests traced")[1][:2000]
