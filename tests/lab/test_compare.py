"""Bootstrap comparisons: an injected 20 % regression is significant, noise is not."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.resample import compare_quantile, quantile_linear
from lab.synthetic import request_rows, write_meta, write_request_part
from tests.lab.conftest import T0_US, CliResult

NAMES = ("/inventory/", "/api/sales/")


def _make_run(root: Path, run_id: str, seed: int, factor: float = 1.0, **meta: str) -> Path:
    run_dir = root / run_id
    write_meta(run_dir, **meta)
    rng = random.Random(seed)
    for i, name in enumerate(NAMES):
        latencies = [rng.lognormvariate(4.5, 0.4) * factor for _ in range(1500)]
        write_request_part(run_dir, request_rows(name, latencies, start_us=T0_US), f"w{i}", 0)
    return run_dir


@pytest.fixture
def three_runs(runs_root: Path) -> tuple[Path, Path, Path]:
    base = _make_run(runs_root, "20260101-000000-load-0001", seed=1)
    same = _make_run(runs_root, "20260101-010000-load-0002", seed=2)
    slower = _make_run(runs_root, "20260101-020000-load-0003", seed=3, factor=1.2)
    return base, same, slower


def test_injected_20_percent_regression_is_significant() -> None:
    rng = random.Random(11)
    base = sorted(rng.lognormvariate(4.5, 0.4) for _ in range(2000))
    slow = sorted(rng.lognormvariate(4.5, 0.4) * 1.2 for _ in range(2000))
    for q in (0.5, 0.95):
        est = compare_quantile(base, slow, q)
        assert est.significant
        assert est.ratio_ci[0] > 1.0
        assert 1.1 < est.ratio < 1.3
        assert est.verdict().endswith("x slower")
        assert compare_quantile(slow, base, q).verdict().endswith("x faster")


def test_same_distribution_is_not_significant() -> None:
    rng = random.Random(12)
    a = sorted(rng.lognormvariate(4.5, 0.4) for _ in range(2000))
    b = sorted(rng.lognormvariate(4.5, 0.4) for _ in range(2000))
    for q in (0.5, 0.95):
        est = compare_quantile(a, b, q)
        assert not est.significant
        assert est.ratio_ci[0] < 1.0 < est.ratio_ci[1]
        assert est.verdict() == "not significant"


def test_bootstrap_interval_covers_the_point_estimate() -> None:
    values = sorted(float(v) for v in range(1, 1001))
    est = compare_quantile(values, values, 0.95)
    assert est.baseline == pytest.approx(quantile_linear(values, 0.95)) == pytest.approx(950.05)
    assert est.baseline_ci[0] < 950.05 < est.baseline_ci[1]
    assert est.baseline_ci[1] - est.baseline_ci[0] < 40  # about +-2 sd of the order statistic


def test_compare_cli_verdicts_and_gate(
    three_runs: tuple[Path, Path, Path], lab_cli: Callable[..., CliResult]
) -> None:
    base, same, slower = three_runs
    result = lab_cli("compare", base.name, same.name, slower.name, "--fail-on-regression", "10%")
    assert result.code == 1, result.out + result.err
    same_table, slow_table = result.out.split(f"A = {base.name}, B = {slower.name}")
    assert "slower" not in same_table.split("PromQL")[0]
    assert slow_table.count("x slower") >= 2
    assert "REGRESSION beyond 10%" in result.out
    assert f'run_id=~"{base.name}|{same.name}|{slower.name}"' in result.out


def test_gate_passes_without_regression(
    three_runs: tuple[Path, Path, Path], lab_cli: Callable[..., CliResult]
) -> None:
    base, same, _ = three_runs
    result = lab_cli(
        "compare", base.name, same.name, "--fail-on-regression", "10%", "--markdown",
        "--grafana-url", "http://127.0.0.1:3000",
    )  # fmt: skip
    assert result.code == 0, result.out
    assert (
        f"http://127.0.0.1:3000/d/lab-compare-runs?var-A={base.name}&var-B={same.name}"
        in result.out
    )
    assert "| request | n A/B |" in result.out
    assert "no significant regression beyond 10%" in result.out


def test_gate_threshold_above_the_change_passes(
    three_runs: tuple[Path, Path, Path], lab_cli: Callable[..., CliResult]
) -> None:
    base, _, slower = three_runs
    assert lab_cli("compare", base.name, slower.name, "--fail-on-regression", "40%").code == 0


def test_refuses_different_scales_unless_forced(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    a = _make_run(runs_root, "20260101-000000-load-00a1", seed=1, scale="small")
    b = _make_run(runs_root, "20260101-000000-load-00a2", seed=2, scale="large")
    result = lab_cli("compare", a.name, b.name)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "differ in scale" in result.err
    assert "--force" in result.err
    assert lab_cli("compare", a.name, b.name, "--force").code == 0


def test_refuses_different_profiles(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    a = _make_run(runs_root, "20260101-000000-load-00b1", seed=1, profile="load")
    b = _make_run(runs_root, "20260101-000000-stress-00b2", seed=2, profile="stress")
    result = lab_cli("compare", a.name, b.name)
    assert result.code == 2
    assert "differ in profile" in result.err
