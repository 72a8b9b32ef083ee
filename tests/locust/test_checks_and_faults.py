"""Targets judged from the exact record decide the exit code; a planted fault shows in it."""

from __future__ import annotations

import statistics

import pyarrow.compute as pc
import pytest

from tests.locust.conftest import RELAXED_TARGETS, run_locust

pytestmark = [pytest.mark.slow]


def test_a_breached_target_fails_the_run(live_apps, runs_dir) -> None:
    app = live_apps()
    run = run_locust(
        app.url,
        runs_dir,
        "20260101-000000-smoke-bad0",
        env={"LAB_SCENARIO": "APIUser", "LAB_USERS": "2", "LAB_DURATION": "8s"},
        targets={"api_p95_ms": 0.001},  # no request is that fast
    )
    assert run.returncode == 1, run.output[-3000:]
    assert "CHECK FAILED: API p95 of /api/" in run.output
    failed = [e for e in run.events() if e["kind"] == "check_failed"]
    assert failed
    assert any(e["detail"]["threshold"] == 0.001 for e in failed)
    assert run.events()[-1]["detail"]["exit_code"] == 1


def inventory_times_ms(app_url: str, runs_dir, run_id: str) -> list[float]:
    run = run_locust(
        app_url,
        runs_dir,
        run_id,
        env={
            "LAB_SCENARIO": "InventoryManagementWorkflow",
            "LAB_USERS": "3",
            "LAB_SPAWN_RATE": "3",
            "LAB_DURATION": "20s",
        },
        targets=RELAXED_TARGETS,
    )
    assert run.returncode == 0, run.output[-3000:]
    record = run.record()
    times = record.filter(pc.equal(record["name"], "/inventory/"))["response_time_us"]
    assert len(times) >= 10, "too few /inventory/ requests to compare"
    return [us / 1000.0 for us in times.to_pylist()]


def probability_slower(slow: list[float], fast: list[float]) -> float:
    """P(a random request of `slow` takes longer than one of `fast`), ties counting half."""
    wins = sum((s > f) + 0.5 * (s == f) for s in slow for f in fast)
    return wins / (len(slow) * len(fast))


def test_n_plus_one_fault_visibly_slows_the_inventory_list(live_apps, runs_dir) -> None:
    clean = inventory_times_ms(live_apps().url, runs_dir, "20260101-000000-smoke-c1ea")
    faulty = inventory_times_ms(
        live_apps(LAB_FAULTS="n_plus_one").url, runs_dir, "20260101-000000-smoke-fa17"
    )
    # Up to 50 extra loopback queries a page add only a few ms to a ~13 ms page, and a shared
    # machine adds noise of the same size: judge the whole distributions, not two medians.
    p_slower = probability_slower(faulty, clean)
    message = (
        f"clean median {statistics.median(clean):.1f} ms (n={len(clean)}), n+1 median"
        f" {statistics.median(faulty):.1f} ms (n={len(faulty)}), P(n+1 slower) {p_slower:.2f}"
    )
    assert p_slower >= 0.75, message
    assert statistics.median(faulty) > statistics.median(clean), message
