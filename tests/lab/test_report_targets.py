"""`lab report` target checks at their edges: page vs API targets, the database query p95,
and the failure ratio at exactly the target (the targets say "below", so equal is a breach);
and the exact figures those checks rest on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lab import request_stats
from lab.rundata import open_run
from lab.targets import Targets
from tests.lab.conftest import T0_US, CliResult
from tests.synthetic import (
    DbCall,
    request_rows,
    trace_spans,
    write_meta,
    write_request_part,
    write_span_part,
)

START_NS = T0_US * 1000
STATEMENTS = [  # 5 per request
    "SELECT sku FROM inventory_item",
    "SELECT name FROM inventory_item",
    "SELECT price FROM inventory_item",
    "SELECT karat FROM inventory_item",
    "SELECT quantity FROM inventory_item",
]


def make_run(root: Path, run_id: str, names: dict[str, tuple[list[float], int]]) -> Path:
    """A completed run: per name, (latencies in ms, how many of them failed)."""
    run_dir = root / run_id
    write_meta(run_dir)
    rows = [
        row
        for name, (latencies, failures) in names.items()
        for row in request_rows(name, latencies, start_us=T0_US, failures=failures)
    ]
    write_request_part(run_dir, rows)
    return run_dir


def breaches(run_dir: Path) -> list[str]:
    return json.loads((run_dir / "report.json").read_text())["breaches"]


def test_api_names_have_the_api_target_and_pages_the_page_target(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    # 600 ms is too slow for an API call (500 ms) and fine for a page (2 s).
    run_dir = make_run(
        runs_root,
        "20260101-000000-load-a100",
        {"/api/inventory/": ([600.0] * 50, 0), "/inventory/": ([600.0] * 50, 0)},
    )
    result = lab_cli("report", run_dir.name)
    assert result.code == 1, result.out
    assert breaches(run_dir) == ["GET /api/inventory/: p95 600 ms >= 500 ms (api)"]


def test_targets_file_and_its_old_spelling_judge_alike(
    runs_root: Path, lab_cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """`--targets-file FILE` (new) and `--targets FILE` (old, one deprecation line) both apply
    the file; without it the same run passes."""
    run_dir = make_run(runs_root, "20260101-000000-load-a10f", {"/api/sales/": ([300.0] * 40, 0)})
    strict = tmp_path / "strict.toml"
    strict.write_text("[targets]\napi_p95_ms = 250.0\n")
    plain = lab_cli("report", run_dir.name)
    assert plain.code == 0, plain.out
    assert breaches(run_dir) == []
    new = lab_cli("report", run_dir.name, "--targets-file", str(strict))
    assert new.code == 1
    assert breaches(run_dir) == ["GET /api/sales/: p95 300 ms >= 250 ms (api)"]
    assert "deprecated" not in new.err
    old = lab_cli("report", run_dir.name, "--targets", str(strict))
    assert old.code == 1
    assert breaches(run_dir) == ["GET /api/sales/: p95 300 ms >= 250 ms (api)"]
    assert old.err.count("lab: --targets is deprecated, use --targets-file\n") == 1


def test_p95_equal_to_a_target_is_a_breach(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = make_run(
        runs_root,
        "20260101-000000-load-a101",
        {
            "/api/sales/": ([500.0] * 40, 0),
            "/sales/": ([2000.0] * 40, 0),
            "/customers/": ([1999.0] * 40, 0),
            "/api/customers/": ([499.0] * 40, 0),
        },
    )
    assert lab_cli("report", run_dir.name).code == 1
    assert sorted(breaches(run_dir)) == [
        "GET /api/sales/: p95 500 ms >= 500 ms (api)",
        "GET /sales/: p95 2000 ms >= 2000 ms (page)",
    ]


def test_failure_ratio_of_exactly_one_percent_breaches(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    # One name at exactly 1 %; the run as a whole far below it (0.1 %).
    run_dir = make_run(
        runs_root,
        "20260101-000000-load-a102",
        {"/sales/": ([10.0] * 100, 1), "/dashboard/": ([10.0] * 900, 0)},
    )
    result = lab_cli("report", run_dir.name)
    assert result.code == 1, result.out
    assert breaches(run_dir) == ["GET /sales/: failure ratio 1.00% >= 1%"]


def test_failure_ratio_just_below_one_percent_passes(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = make_run(runs_root, "20260101-000000-load-a103", {"/sales/": ([10.0] * 101, 1)})
    result = lab_cli("report", run_dir.name)
    assert result.code == 0, result.out
    assert result.out.startswith("PASS")
    assert breaches(run_dir) == []


def test_overall_failure_ratio_breach(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    run_dir = make_run(runs_root, "20260101-000000-load-a104", {"/sales/": ([10.0] * 200, 2)})
    assert lab_cli("report", run_dir.name).code == 1
    assert breaches(run_dir) == [
        "GET /sales/: failure ratio 1.00% >= 1%",
        "overall failure ratio 1.00% >= 1%",
    ]


def run_with_queries(root: Path, run_id: str, query_ms: list[float]) -> Path:
    """A fast run whose requests made database queries of the given durations, 5 a request."""
    run_dir = make_run(root, run_id, {"/inventory/": ([30.0] * 20, 0)})
    spans = []
    for i in range(0, len(query_ms), 5):
        calls = [DbCall(STATEMENTS[n], ms) for n, ms in enumerate(query_ms[i : i + 5])]
        spans += trace_spans(
            f"t{i}", route="/inventory/", start_ns=START_NS + i * 10**8, network_ms=1.0,
            app_ms=2.0, calls=calls,
        )  # fmt: skip
    write_span_part(run_dir, spans)
    return run_dir


def test_database_query_p95_breach_and_pass(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    # 100 queries: 94 fast, 6 slow -> p95 (linear) is 150 ms, above the 100 ms target.
    slow = run_with_queries(runs_root, "20260101-000000-load-a105", [5.0] * 94 + [150.0] * 6)
    assert lab_cli("report", slow.name).code == 1
    assert breaches(slow) == ["database query p95 150.0 ms >= 100 ms"]
    # 95 fast, 5 slow -> p95 interpolates between 5 and 150 ms: 12.25 ms, a pass.
    fast = run_with_queries(runs_root, "20260101-000000-load-a106", [5.0] * 95 + [150.0] * 5)
    result = lab_cli("report", fast.name)
    assert result.code == 0, result.out
    digest = json.loads((fast / "report.json").read_text())
    assert digest["db_query_p95_ms"] == pytest.approx(12.25)
    assert digest["breaches"] == []


def test_database_query_p95_equal_to_the_target_is_a_breach(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = run_with_queries(runs_root, "20260101-000000-load-a107", [100.0] * 20)
    assert lab_cli("report", run_dir.name).code == 1
    assert breaches(run_dir) == ["database query p95 100.0 ms >= 100 ms"]


def test_run_figures_are_exact(runs_root: Path) -> None:
    """The figures the verdicts rest on, over the whole run and per name, from known data."""
    run_dir = runs_root / "20260101-000000-load-a108"
    write_meta(run_dir)
    latencies = [float(ms) for ms in range(1, 101)]  # 1..100 ms, 10 ms apart, 3 failed
    rows = request_rows("/x/", latencies, start_us=T0_US, spacing_us=10_000, failures=3)
    rows += request_rows("/api/y/", [7.0], start_us=T0_US + 5_000, method="POST")
    write_request_part(run_dir, rows)
    data = open_run(run_dir, with_spans=False)
    con = data.con
    last_start = T0_US + 99 * 10_000
    assert request_stats.run_window_us(con) == (T0_US, last_start + 100_000)
    totals = request_stats.totals(con, 10.0)
    assert (totals.count, totals.failures, totals.failure_ratio) == (101, 3, 3 / 101)
    assert totals.p50_ms == pytest.approx(50.0)
    assert totals.p95_ms == pytest.approx(95.0)
    assert totals.p99_ms == pytest.approx(99.0)
    assert totals.max_ms == pytest.approx(100.0)
    assert (totals.first_us, totals.last_us) == (T0_US, last_start)
    assert totals.rps == pytest.approx(10.1)
    assert request_stats.totals(con, 0.0).rps == 0.0  # no window: no rate, no division by 0
    by_name = {s.name: s for s in request_stats.per_name(con, Targets(), 10.0)}
    x, y = by_name["/x/"], by_name["/api/y/"]
    assert (x.method, x.count, x.failures, x.kind, x.target_p95_ms) == (
        "GET",
        100,
        3,
        "page",
        2000.0,
    )
    assert (x.p50_ms, x.p95_ms, x.p99_ms, x.max_ms) == pytest.approx((50.5, 95.05, 99.01, 100.0))
    assert x.rps == pytest.approx(10.0)
    assert (y.method, y.count, y.kind, y.target_p95_ms, y.p95_ms) == ("POST", 1, "api", 500.0, 7.0)
    assert [s.name for s in request_stats.per_name(con, Targets(), 0.0) if s.rps == 0.0] == [
        "/api/y/",
        "/x/",
    ]
    con.close()
