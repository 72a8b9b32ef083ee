"""Workflow transactions in `lab report` and `lab compare` (synthetic records, known numbers).

The Locust side (a real workflow recorded as one transaction, failed when a step fails):
tests/locust/test_workflow_transactions.py and tests/locust/test_scenarios.py.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

from lab import report as report_module
from lab.targets import load_targets
from tests.lab.conftest import T0_US, CliResult
from tests.synthetic import (
    request_rows,
    transaction_rows,
    write_meta,
    write_request_part,
    write_transaction_part,
)

SALE = "POS sale"


def _run(
    root: Path, run_id: str, seed: int, sale_factor: float = 1.0, run_effect: float = 1.0
) -> Path:
    """A run whose requests never change and whose POS sales take `sale_factor` times longer."""
    run_dir = root / run_id
    write_meta(run_dir)
    rng = random.Random(seed)
    latencies = [rng.lognormvariate(4.0, 0.3) * run_effect for _ in range(300)]
    write_request_part(run_dir, request_rows("/pos/search/", latencies, start_us=T0_US))
    sales = [rng.lognormvariate(7.0, 0.3) * run_effect * sale_factor for _ in range(120)]
    write_transaction_part(run_dir, transaction_rows(SALE, sales, start_us=T0_US))
    return run_dir


def test_report_gives_exact_percentiles_and_success_per_workflow(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = runs_root / "20260101-000000-load-00f1"
    write_meta(run_dir)
    write_request_part(run_dir, request_rows("/pos/", [50.0] * 40, start_us=T0_US))
    sales = [float(ms) for ms in range(1000, 3000, 10)]  # 200 sales, 1.00 s to 2.99 s
    traces = [f"{i:032x}" for i in range(len(sales))]
    rows = transaction_rows(SALE, sales, start_us=T0_US, failures=5, trace_ids=traces)
    write_transaction_part(run_dir, rows[:120], "w1", 0)
    write_transaction_part(run_dir, rows[120:], "w2", 0)  # workers' parts are one workflow
    reports = transaction_rows("report generation", [400.0, 600.0], start_us=T0_US)
    write_transaction_part(run_dir, reports, "w1", 1)

    report = report_module.build(run_dir, targets=load_targets(run_dir))
    by_name = {w.name: w for w in report.workflows}
    assert set(by_name) == {SALE, "report generation"}
    sale = by_name[SALE]
    # quantile_cont interpolates like statistics' "inclusive" method: exact, not bucketed.
    cuts = statistics.quantiles(sales, n=100, method="inclusive")
    assert sale.count == 200
    assert sale.failures == 5
    assert sale.success_ratio == pytest.approx(195 / 200)
    assert sale.p50_ms == pytest.approx(statistics.median(sales))
    assert sale.p95_ms == pytest.approx(cuts[94])
    assert sale.p99_ms == pytest.approx(cuts[98])
    assert sale.max_ms == pytest.approx(2990.0)
    assert sale.slowest_trace_id == traces[-1]
    assert sale.top_failure.startswith("TenantLeak")
    assert by_name["report generation"].failures == 0
    assert by_name["report generation"].p50_ms == pytest.approx(500.0)

    assert lab_cli("report", run_dir.name).code == 0  # figures, not targets: no breach
    digest = json.loads((run_dir / "report.json").read_text())
    [sale_json] = [w for w in digest["workflows"] if w["name"] == SALE]
    assert sale_json["success_ratio"] == pytest.approx(0.975)
    summary = (run_dir / "summary.md").read_text()
    assert "## Workflows" in summary
    assert f"| {SALE} | 200 | 5 | 97.5% |" in summary
    assert "<h2>Workflows</h2>" in (run_dir / "report.html").read_text()


def test_a_run_without_workflows_has_no_workflow_section(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = runs_root / "20260101-000000-load-00f2"
    write_meta(run_dir)
    write_request_part(run_dir, request_rows("/dashboard/", [80.0] * 30, start_us=T0_US))
    assert lab_cli("report", run_dir.name).code == 0
    assert "Workflows" not in (run_dir / "summary.md").read_text()
    assert json.loads((run_dir / "report.json").read_text())["workflows"] == []


def _side(root: Path, tag: str, seed: int, **kwargs: float) -> str:
    rng = random.Random(seed)
    return ",".join(
        _run(
            root, f"20260101-0{seed}{i}000-load-{tag}{i:03x}", seed * 100 + i,
            run_effect=math.exp(rng.gauss(0, 0.05)), **kwargs,
        ).name
        for i in range(4)
    )  # fmt: skip


def test_compare_finds_a_slower_workflow_whose_requests_did_not_change(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    base = _side(runs_root, "a", 1)
    slower = _side(runs_root, "b", 2, sale_factor=1.6)
    result = lab_cli("compare", base, slower, "--fail-on-regression", "10%", "--no-noise-floor")
    assert result.code == 1, result.out + result.err
    [sale_line] = [ln for ln in result.out.splitlines() if ln.startswith(f"WORKFLOW {SALE}")]
    assert "x slower" in sale_line
    [search_line] = [ln for ln in result.out.splitlines() if ln.startswith("GET /pos/search/")]
    assert "slower" not in search_line


def test_compare_of_unchanged_workflows_is_not_flagged(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    base = _side(runs_root, "c", 3)
    same = _side(runs_root, "d", 4)
    result = lab_cli("compare", base, same, "--fail-on-regression", "10%", "--no-noise-floor")
    assert result.code == 0, result.out + result.err
    [sale_line] = [ln for ln in result.out.splitlines() if ln.startswith(f"WORKFLOW {SALE}")]
    assert "slower" not in sale_line
