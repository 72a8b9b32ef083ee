"""A workflow whose step fails is one failed transaction (a real run against a leaking app).

POS sales against an app with LAB_FAULTS=tenant_leak: the product search shows other shops'
items, the search fails as TenantLeak, so every sale fails, with that step's reason. The same
workflow against the clean app succeeds every time: tests/locust/test_scenarios.py.
"""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from tests.locust.conftest import RELAXED_TARGETS, run_locust

pytestmark = [pytest.mark.slow]


def test_a_failed_step_fails_its_workflow_transaction(live_apps, runs_dir, shops) -> None:
    app = live_apps(LAB_FAULTS="tenant_leak")
    run = run_locust(
        app.url,
        runs_dir,
        "20260101-000000-smoke-f10e",
        env={
            "LAB_SCENARIO": "POSSaleWorkflow",
            "LAB_USERS": "2",
            "LAB_SPAWN_RATE": "2",
            "LAB_DURATION": "10s",
            "LAB_TRACE_SAMPLE_RATIO": "1",
        },
        targets=RELAXED_TARGETS,
    )
    assert run.returncode == 1, run.output[-4000:]  # the search's failure ratio breaches
    record = run.record()
    steps_of: dict[str, list[dict]] = {}
    for row in record.select(["trace_id", "name", "failure"]).to_pylist():
        steps_of.setdefault(row["trace_id"], []).append(row)

    sales = run.transactions()
    assert set(sales["name"].to_pylist()) == {"POS sale"}
    failed = 0
    for sale in sales.to_pylist():
        steps = steps_of[sale["trace_id"]]  # sample ratio 1: every request has its trace id
        assert sale["requests"] == len(steps)
        first_failure = next((s["failure"] for s in steps if s["failure"]), None)
        if first_failure is not None:
            # A failed step fails the sale, with that step's own reason; a leaked search ends
            # the sale there (nothing is sold from a list that is not the shop's).
            failed += 1
            assert sale["failure"] == first_failure, (sale, steps)
            assert first_failure.startswith("TenantLeak: ")
            assert steps[-1]["failure"] == first_failure
        else:
            # A search that happened to show only the shop's own items: a healthy sale.
            assert sale["failure"] is None, (sale, steps)
            assert steps[-1]["name"] == "/sales/"
    assert failed >= 1, sales.to_pylist()
    assert failed == pc.sum(pc.is_valid(sales["failure"])).as_py()
