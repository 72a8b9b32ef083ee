"""Every scenario, headless against the live app: zero failures, and an exact record."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from tests.locust.conftest import RELAXED_TARGETS, run_locust

pytestmark = [pytest.mark.slow]

SCENARIOS = {
    "TenantUser": {"/accounts/login/", "/dashboard/", "/inventory/"},
    "APIUser": {"/api/auth/token/", "/api/inventory/"},
    "POSSaleWorkflow": {"/pos/search/", "/pos/checkout/", "/sales/"},
    "InventoryManagementWorkflow": {"/inventory/", "/inventory/[id]"},
    "ReportGenerationWorkflow": {"/reports/daily-sales/", "/reports/daily-sales/pdf/"},
    "CustomerManagementWorkflow": {"/customers/", "/customers/[id]"},
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_runs_without_failures_and_records_every_request(
    scenario: str, live_apps, runs_dir, shops
) -> None:
    app = live_apps()
    run = run_locust(
        app.url,
        runs_dir,
        f"20260101-000000-smoke-{abs(hash(scenario)) % 0xFFFF:04x}",
        env={
            "LAB_SCENARIO": scenario,
            "LAB_USERS": "3",
            "LAB_SPAWN_RATE": "3",
            "LAB_DURATION": "12s",
            "LAB_TRACE_SAMPLE_RATIO": "1",
        },
        targets=RELAXED_TARGETS,
    )
    assert run.returncode == 0, run.output[-4000:]
    requests, failures = run.locust_total()
    assert requests > 0
    assert failures == 0, run.output[-4000:]

    record = run.record()
    assert record.num_rows == requests  # exact: nothing lost, nothing counted twice
    assert set(pc.unique(record["scenario"]).to_pylist()) == {scenario}
    names = set(pc.unique(record["name"]).to_pylist())
    assert SCENARIOS[scenario] <= names, names
    assert all(not name[-2:-1].isdigit() for name in names), f"ids not grouped: {names}"
    own_tenants = {shop.tenant.pk for shop in shops}
    assert set(pc.unique(record["tenant_id"]).to_pylist()) <= own_tenants
    assert record["failure"].null_count == record.num_rows
    assert pc.min(record["response_time_us"]).as_py() > 0
    # Sample ratio 1: every request carries the trace id of its task.
    assert record["trace_id"].null_count == 0
    kinds = [event["kind"] for event in run.events()]
    assert kinds[0] == "run_started", kinds
    assert kinds[-1] == "run_finished", kinds
    assert "check_failed" not in kinds
