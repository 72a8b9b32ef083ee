"""An abort on breach as `lab report`, `lab compare` and `lab run`'s status read it.

The run folders are synthetic (known numbers); the events are those the Locust master writes
(locustfiles/_plugin.py). Real aborted runs: tests/locust/test_abort_on_breach.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest

from lab.contract import STATUS_ABORTED, STATUS_COMPLETED
from lab.errors import LabError
from lab.health import status_from_events
from lab.targets import Targets, load_targets
from locustfiles._targets import RunTargets
from tests.lab.conftest import T0_US, CliResult
from tests.synthetic import request_rows, write_meta, write_request_part

MESSAGE = (
    "API p95 of /api/x/ 900 ms >= 500 ms in each of the last 2 windows of 60 s (900 ms, 910 ms)"
)
ABORTED = {
    "reason": "breach", "check": "API p95", "name": "/api/x/", "threshold": 500.0,
    "values": [900.0, 910.0], "window_s": 60.0, "windows": 2, "message": MESSAGE,
}  # fmt: skip


def write_events(run_dir: Path, *events: tuple[str, dict]) -> None:
    lines = [
        json.dumps({"ts": f"2026-01-01T00:0{i}:00.000+00:00", "kind": kind, "detail": detail})
        for i, (kind, detail) in enumerate(events)
    ]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")


def finished(ran_s: float, planned_s: float = 300.0) -> tuple[str, dict]:
    return "run_finished", {"requests": 200, "exit_code": 1, "ran_s": ran_s, "planned_s": planned_s}


def test_status_is_aborted_whenever_the_master_aborted(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    run_dir = tmp_path
    write_events(run_dir, ("load_started", {"planned_s": 300.0}), ("run_aborted", ABORTED),
                 finished(150.0))  # fmt: skip
    assert status_from_events(events, interrupted=False) == STATUS_ABORTED
    assert status_from_events(events, interrupted=True) == STATUS_ABORTED  # Ctrl-C came after
    # Aborted in the last seconds: still aborted, though it ran its plan within tolerance.
    write_events(run_dir, ("load_started", {}), ("run_aborted", ABORTED), finished(299.0))
    assert status_from_events(events, interrupted=False) == STATUS_ABORTED
    write_events(run_dir, ("load_started", {}), ("abort_armed", {}), finished(299.0))
    assert status_from_events(events, interrupted=False) == STATUS_COMPLETED


def aborted_run(root: Path, run_id: str, ms: float, reason: str = "breach") -> Path:
    run_dir = root / run_id
    write_meta(run_dir, status=STATUS_ABORTED)
    write_request_part(run_dir, request_rows("/api/x/", [ms] * 200, start_us=T0_US))
    write_events(
        run_dir, ("load_started", {}), ("run_aborted", {**ABORTED, "reason": reason}),
        finished(150.0),
    )  # fmt: skip
    return run_dir


def test_an_abort_on_breach_is_a_fail_with_its_reason_not_a_partial_run(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    # The partial record itself passes every target: the abort alone makes it a FAIL.
    run_dir = aborted_run(runs_root, "20260101-000000-load-ab01", ms=20.0)
    result = lab_cli("report", run_dir.name)
    assert result.code == 1, result.out + result.err
    assert result.out.startswith("FAIL")
    assert f"aborted on breach: {MESSAGE}" in result.out
    digest = json.loads((run_dir / "report.json").read_text())
    assert digest["verdict"] == "FAIL"
    assert digest["aborted_on_breach"] == MESSAGE
    assert digest["partial"] == []
    html = (run_dir / "report.html").read_text()
    assert "<b>ABORTED on breach</b>" in html
    assert "/api/x/ 900 ms &gt;= 500 ms" in html
    assert "**ABORTED on breach**" in (run_dir / "summary.md").read_text()


def test_an_abort_for_another_reason_stays_partial(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = aborted_run(runs_root, "20260101-000000-load-ab02", ms=20.0, reason="other")
    result = lab_cli("report", run_dir.name)
    assert result.code == 3, result.out + result.err
    assert result.out.startswith("PARTIAL")
    assert "ABORTED on breach" not in (run_dir / "report.html").read_text()


def test_a_completed_run_is_not_marked_aborted(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = runs_root / "20260101-000000-load-ab03"
    write_meta(run_dir)
    write_request_part(run_dir, request_rows("/api/x/", [20.0] * 200, start_us=T0_US))
    write_events(run_dir, ("load_started", {}), ("abort_armed", {}), finished(300.0))
    result = lab_cli("report", run_dir.name)
    assert result.code == 0, result.out + result.err
    assert "ABORTED" not in (run_dir / "report.html").read_text()
    assert json.loads((run_dir / "report.json").read_text())["aborted_on_breach"] is None


def test_compare_warns_of_aborted_and_saturated_runs_only(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    clean = runs_root / "20260101-000000-load-c001"
    write_meta(clean)
    write_request_part(clean, request_rows("/api/x/", [20.0] * 200, start_us=T0_US))
    saturated = runs_root / "20260101-000000-load-c002"
    write_meta(saturated)
    write_request_part(saturated, request_rows("/api/x/", [25.0] * 200, start_us=T0_US))
    write_events(saturated, ("generator_saturated", {
        "worker": "local", "cpu_peak_pct": 99.0, "above_s": 30.0, "threshold_pct": 80.0,
        "sustained_s": 20.0,
    }))  # fmt: skip
    aborted = aborted_run(runs_root, "20260101-000000-load-c003", ms=30.0)

    result = lab_cli("compare", clean.name, saturated.name, aborted.name, "--no-noise-floor")
    assert result.code == 0, result.out + result.err
    assert (
        f"warning: {saturated.name} is not trustworthy, its timings may be the load "
        "generator's: load generator local above 80.0 % CPU for 30.0 s (peak 99.0 %)"
    ) in result.err
    assert f"warning: {aborted.name} was aborted on breach ({MESSAGE})" in result.err
    assert clean.name not in result.err

    alone = lab_cli("compare", clean.name, clean.name, "--no-noise-floor")
    assert "warning" not in alone.err


def test_abort_and_generator_targets_read_write_and_refuse_nonsense(tmp_path: Path) -> None:
    shipped = load_targets()
    assert shipped.abort_on_breach is False  # opt-in: `lab run --abort-on-breach`
    assert shipped.generator_cpu_max_pct == 80.0
    (tmp_path / "targets.toml").write_text(
        "[abort]\non_breach = true\nwindow_s = 30.0\nconsecutive = 3\n"
        "[generator]\ncpu_max_pct = 70.0\ncpu_sustained_s = 10.0\n"
    )
    mine = load_targets(tmp_path)
    assert (mine.abort_on_breach, mine.abort_window_s, mine.abort_consecutive) == (True, 30.0, 3)
    assert (mine.generator_cpu_max_pct, mine.generator_cpu_sustained_s) == (70.0, 10.0)
    assert load_targets(overrides=["abort_on_breach=false"]).abort_on_breach is False
    assert load_targets(overrides=["abort_on_breach=true"]).abort_on_breach is True
    for bad, says in [
        ("abort_on_breach=maybe", "is not true or false"),
        ("abort_every_s=120", "abort_every_s must be in (0, window]"),
        ("abort_consecutive=0", "abort_consecutive must be >= 1"),
        ("abort_min_requests=0", "abort_min_requests must be >= 1"),
        ("generator_cpu_max_pct=120", "generator_cpu_max_pct must be in (0, 100]"),
    ]:
        with pytest.raises(LabError, match=says.replace("(", r"\(").replace("]", r"\]")):
            load_targets(overrides=[bad])


def test_the_load_generator_defaults_are_the_labs() -> None:
    """locustfiles/_targets.py repeats the defaults for a Locust without `lab`: they agree."""
    lab = Targets()
    for f in fields(RunTargets):
        assert getattr(RunTargets(), f.name) == getattr(lab, f.name), f.name
