"""Exact percentiles and target checks from generated records with known distributions."""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

from lab import report as report_module
from lab.targets import load_targets
from tests.lab.conftest import T0_US, CliResult
from tests.synthetic import request_rows, write_meta, write_request_part


def _linear_quantile(values: list[float], q: float) -> float:
    # statistics' "inclusive" method is the same linear interpolation as DuckDB's quantile_cont.
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@pytest.fixture
def known_run(runs_root: Path) -> Path:
    """/inventory/: 1..1000 ms shuffled; /api/inventory/: 2000 values from a seeded log-normal."""
    run_dir = runs_root / "20260101-000000-load-a1b2"
    write_meta(
        run_dir, started_at="2026-01-01T00:00:00+00:00", ended_at="2026-01-01T00:01:40+00:00"
    )
    rng = random.Random(3)
    uniform = list(range(1, 1001))
    rng.shuffle(uniform)
    lognormal = [rng.lognormvariate(4, 0.5) for _ in range(2000)]
    write_request_part(
        run_dir, request_rows("/inventory/", uniform, start_us=T0_US, failures=5), "w1", 0
    )
    write_request_part(
        run_dir,
        request_rows("/api/inventory/", lognormal, start_us=T0_US, spacing_us=5000),
        "w2",
        0,
    )
    return run_dir


def test_exact_percentiles_per_name(known_run: Path) -> None:
    report = report_module.build(known_run, targets=load_targets(known_run))
    by_name = {s.name: s for s in report.names}
    uniform = by_name["/inventory/"]
    assert uniform.count == 1000
    assert uniform.failures == 5
    assert uniform.p50_ms == pytest.approx(500.5)
    assert uniform.p95_ms == pytest.approx(950.05)
    assert uniform.p99_ms == pytest.approx(990.01)
    assert uniform.max_ms == pytest.approx(1000.0)
    assert uniform.rps == pytest.approx(1000 / 100)  # meta window is 100 s

    rng = random.Random(3)
    rng.shuffle(list(range(1, 1001)))
    expected = [round(rng.lognormvariate(4, 0.5) * 1000) / 1000 for _ in range(2000)]
    api = by_name["/api/inventory/"]
    assert api.kind == "api"
    assert api.p50_ms == pytest.approx(_linear_quantile(expected, 0.50), abs=1e-6)
    assert api.p95_ms == pytest.approx(_linear_quantile(expected, 0.95), abs=1e-6)
    assert api.p99_ms == pytest.approx(_linear_quantile(expected, 0.99), abs=1e-6)
    assert report.totals.count == 3000


def test_targets_pass_and_fail_by_kind(known_run: Path, lab_cli: Callable[..., CliResult]) -> None:
    # page p95 950 ms < 2 s passes; squeeze the page target to 900 ms and it must fail.
    result = lab_cli("report", known_run.name)
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("PASS")
    result = lab_cli("report", known_run.name, "--set", "page_p95_ms=900")
    assert result.code == 1
    assert "GET /inventory/: p95 950 ms >= 900 ms (page)" in result.out
    digest = json.loads((known_run / "report.json").read_text())
    assert digest["verdict"] == "FAIL"


def test_failure_ratio_target(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    run_dir = runs_root / "20260101-000000-load-f00d"
    write_meta(run_dir)
    write_request_part(run_dir, request_rows("/sales/", [10.0] * 100, start_us=T0_US, failures=2))
    result = lab_cli("report", run_dir.name)
    assert result.code == 1
    assert "failure ratio 2.00% >= 1%" in result.out


def test_report_is_self_contained(known_run: Path, lab_cli: Callable[..., CliResult]) -> None:
    assert lab_cli("report", known_run.name).code == 0
    html = (known_run / "report.html").read_text()
    assert "<svg" in html
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in html
    summary = (known_run / "summary.md").read_text()
    assert "| GET /inventory/ | 1000 | 5 | 500.5 | 950.0 |" in summary


def test_slowest_requests_link_to_jaeger(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = runs_root / "20260101-000000-load-7ace"
    write_meta(run_dir)
    trace = "ab" * 16
    rows = request_rows("/sales/", [5.0, 900.0, 7.0], start_us=T0_US, trace_ids=[None, trace, None])
    write_request_part(run_dir, rows)
    assert lab_cli("report", run_dir.name, "--jaeger-url", "http://127.0.0.1:16686/").code == 0
    html = (run_dir / "report.html").read_text()
    assert f'<a href="http://127.0.0.1:16686/trace/{trace}">' in html


def test_runs_lists_runs_with_verdict(known_run: Path, lab_cli: Callable[..., CliResult]) -> None:
    listing = lab_cli("runs")
    assert known_run.name in listing.out
    assert "no report" in listing.out
    lab_cli("report", known_run.name)
    listing = lab_cli("runs")
    line = next(line for line in listing.out.splitlines() if known_run.name in line)
    assert "PASS" in line
    assert "3000" in line


def test_unhealthy_generator_makes_the_run_untrustworthy(
    known_run: Path, lab_cli: Callable[..., CliResult]
) -> None:
    (known_run / "events.jsonl").write_text(
        '{"ts": 1, "kind": "cpu_warning", "detail": {"worker": "w1", "cpu_percent": 97}}\n'
        '{"ts": 2, "kind": "check_failed", "detail": "x"}\n'
        '{"ts": 3, "kind": "worker_lo'  # torn last line of a killed master
    )
    result = lab_cli("report", known_run.name)
    assert result.code == 3
    assert result.out.startswith("UNTRUSTWORTHY")
    assert "1 x cpu_warning" in result.out
    html = (known_run / "report.html").read_text()
    assert "Load generator unhealthy" in html
    assert "unreadable event lines" in html
