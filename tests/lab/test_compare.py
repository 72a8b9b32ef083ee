"""`lab compare`: verdicts across runs, never on one pair without a noise floor.

Synthetic runs model a shared machine: every run gets its own slowdown (`run_effect`) on
top of its requests' spread, the noise that fooled the per-request bootstrap.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.compare import RunSample, Side, compare_sides, regressions
from tests.lab.conftest import T0_US, CliResult
from tests.synthetic import request_rows, write_meta, write_request_part

NAMES = ("/inventory/", "/api/sales/")
RUN_SD = 0.10  # run-to-run spread of unchanged code in these fixtures


def _make_run(
    root: Path,
    run_id: str,
    seed: int,
    factor: float = 1.0,
    run_effect: float = 1.0,
    slow_names: tuple[str, ...] = NAMES,
    **meta: object,
) -> Path:
    run_dir = root / run_id
    write_meta(run_dir, **meta)
    rng = random.Random(seed)
    for i, name in enumerate(NAMES):
        scale = run_effect * (factor if name in slow_names else 1.0)
        latencies = [rng.lognormvariate(4.5, 0.4) * scale for _ in range(600)]
        write_request_part(run_dir, request_rows(name, latencies, start_us=T0_US), f"w{i}", 0)
    return run_dir


def _group(root: Path, tag: str, seed: int, runs: int = 4, **kwargs: object) -> list[Path]:
    rng = random.Random(seed)
    return [
        _make_run(
            root, f"20260101-0{seed % 10}{i}000-load-{tag}{i:03x}", seed * 100 + i,
            run_effect=math.exp(rng.gauss(0, RUN_SD)), **kwargs,
        )
        for i in range(runs)
    ]  # fmt: skip


def _ids(dirs: list[Path]) -> str:
    return ",".join(d.name for d in dirs)


def test_single_pair_gives_no_verdict_and_no_gate_failure(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    """The issue's case: unchanged code, the second run 30 % slower because of the machine."""
    a = _make_run(runs_root, "20260101-000000-load-0001", seed=1)
    b = _make_run(runs_root, "20260101-010000-load-0002", seed=2, run_effect=1.3)
    result = lab_cli("compare", a.name, b.name, "--fail-on-regression", "10%")
    assert result.code == 0, result.out + result.err
    assert "NO VERDICT" in result.out
    assert "1.3" in result.out  # the ratios are still shown
    assert "x slower" not in result.out
    assert "gate not applied" in result.out


def test_several_runs_a_side_find_a_planted_regression_and_gate(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    base = _group(runs_root, "a", seed=3)
    slower = _group(runs_root, "b", seed=4, factor=1.5, slow_names=("/inventory/",))
    result = lab_cli(
        "compare", _ids(base), "20260101-04*-load-b*", "--fail-on-regression", "10%",
        "--no-noise-floor",
    )  # fmt: skip
    assert result.code == 1, result.out + result.err
    inventory = next(line for line in result.out.splitlines() if line.startswith("GET /inventory/"))
    sales = next(line for line in result.out.splitlines() if line.startswith("GET /api/sales/"))
    assert inventory.count("x slower") == 2
    assert "4/4" in inventory
    assert "slower" not in sales
    assert "faster" not in sales
    assert "REGRESSION beyond 10%" in result.out
    assert "GET /inventory/ p50" in result.out
    assert "Holm-adjusted" in result.out
    assert f"4 runs ({', '.join(d.name for d in slower)})" in result.out  # the glob, sorted
    assert "|".join(d.name for d in base) in result.out  # PromQL names every run


def test_several_runs_of_unchanged_code_pass_the_gate(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    base = _group(runs_root, "a", seed=5)
    same = _group(runs_root, "c", seed=6)
    result = lab_cli(
        "compare", _ids(base), _ids(same), "--fail-on-regression", "10%", "--markdown",
        "--grafana-url", "http://127.0.0.1:3000",
    )  # fmt: skip
    assert result.code == 0, result.out
    assert "x slower" not in result.out
    assert "x faster" not in result.out
    assert result.out.count("not significant") == 4
    assert "| request | runs A/B |" in result.out
    assert (
        f"http://127.0.0.1:3000/d/lab-compare-runs?var-A={base[0].name}&var-B={same[0].name}"
        in result.out
    )
    assert "no significant regression beyond 10%" in result.out


def test_calibrated_noise_floor_judges_a_single_pair(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    aa = _group(runs_root, "f", seed=7, runs=6)
    result = lab_cli("calibrate", "20260101-07*-load-f*")
    assert result.code == 0, result.out + result.err
    floor = json.loads((runs_root / "noise-floor.json").read_text())
    assert floor["runs"] == [d.name for d in aa]
    assert floor["conditions"]["profile"] == "load"
    spread = floor["names"]["GET /inventory/"]["p50"]
    assert spread["runs"] == 6
    assert 2 < spread["spread_pct"] < 25  # RUN_SD is 10 %
    assert "GET /inventory/" in result.out

    base = _make_run(runs_root, "20260102-000000-load-0101", seed=8)
    same = _make_run(runs_root, "20260102-010000-load-0102", seed=9, run_effect=1.05)
    slow = _make_run(runs_root, "20260102-020000-load-0103", seed=10, factor=2.0)
    result = lab_cli("compare", base.name, same.name, slow.name, "--fail-on-regression", "10%")
    assert result.code == 1, result.out + result.err
    same_table, slow_table = result.out.split(f"B = {slow.name}")
    assert "within noise" in same_table
    assert "x slower" not in same_table
    assert slow_table.split("PromQL")[0].count("x slower") == 4
    assert "noise floor: " in result.out
    assert "(6 runs)" in result.out


def test_noise_floor_of_other_conditions_is_ignored(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    _group(runs_root, "f", seed=7, runs=3)
    assert lab_cli("calibrate", "*-load-f*").code == 0
    a = _make_run(runs_root, "20260102-000000-load-0201", seed=8, users=200)
    b = _make_run(runs_root, "20260102-010000-load-0202", seed=10, factor=2.0, users=200)
    result = lab_cli("compare", a.name, b.name)
    assert result.code == 0
    assert "ignored" in result.out
    assert "users 200 (floor: 50)" in result.out
    assert "NO VERDICT" in result.out


def test_warns_when_runs_ran_under_different_machine_load(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    def load(load1: float, other: float) -> dict:
        stat = lambda v: {"mean": v, "max": v}  # noqa: E731
        return {"samples": 10, "cpus": 2, "load_average_1m": stat(load1),
                "cpu_steal_pct": stat(0.0), "other_cpu_pct": stat(other)}  # fmt: skip

    a = _make_run(runs_root, "20260101-000000-load-0301", seed=1, machine_load=load(0.8, 5.0))
    b = _make_run(runs_root, "20260101-010000-load-0302", seed=2, machine_load=load(1.0, 12.0))
    c = _make_run(runs_root, "20260101-020000-load-0303", seed=3, machine_load=load(6.0, 70.0))
    result = lab_cli("compare", a.name, b.name, c.name)
    assert result.code == 0
    warnings = [line for line in result.err.splitlines() if "machine conditions" in line]
    assert len(warnings) == 1, result.err
    assert c.name in warnings[0]
    assert "load average 0.8 vs 6.0" in warnings[0]
    assert "other processes' CPU 5 % vs 70 %" in warnings[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("compare", "20260101-000000-load-0001", "nothing-*"), "no run in"),
        (("compare", "20260101-000000-load-0001", "20260101-000000-load-0001,"), "empty run id"),
        (("compare", "20260101-000000-load-0001,20260101-000000-load-0001", "x"), "named twice"),
        (("calibrate", "20260101-000000-load-0001"), "at least 3 runs"),
        (("calibrate",), "name the runs"),
        (("calibrate", "--repeats", "2", "--", "--profile", "smoke"), "at least 3"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runs_root: Path, lab_cli: Callable[..., CliResult], args: tuple[str, ...], message: str
) -> None:
    _make_run(runs_root, "20260101-000000-load-0001", seed=1)
    result = lab_cli(*args)
    assert result.code == 2, result.out + result.err
    assert result.err.count("\n") == 1, result.err
    assert message in result.err
    assert not (runs_root / "noise-floor.json").exists()


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


def test_percentiles_of_too_few_requests_a_run_are_not_judged() -> None:
    """A p95 of 6 requests a run is each run's maximum: never a verdict, however the runs
    agree. The same runs' medians, and a well-sampled name, are still judged."""
    rng = random.Random(4)
    few, many = ("POST", "/api/auth/token/"), ("GET", "/api/inventory/")

    def run(i: int, scale: float) -> RunSample:
        values = {
            few: sorted(int(scale * rng.uniform(900, 1100) * 1000) for _ in range(6)),
            many: sorted(int(scale * rng.lognormvariate(3, 0.2) * 1000) for _ in range(40)),
        }
        return RunSample(f"r{i}", {}, 60.0, values, {})

    base, cand = Side([run(i, 1.0) for i in range(3)]), Side([run(i, 2.0) for i in range(3, 6)])
    rows = {row.key: row for row in compare_sides(base, cand)}
    assert rows[few].p95 is not None
    assert not rows[few].p95.judged
    assert rows[few].p95.verdict() == "no verdict: under 20 requests a run"
    assert rows[few].p50 is not None
    assert rows[few].p50.significant
    assert rows[many].p95 is not None
    assert rows[many].p95.significant
    (gated,) = regressions([rows[few]], 0.1)  # the median is gated, the p95 is not
    assert gated.startswith(f"{rows[few].label} p50: ")
