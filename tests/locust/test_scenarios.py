"""Every scenario, headless against the live app: zero failures, and an exact record.

Workflow scenarios also leave one successful transaction per workflow task, whose time
holds its requests; HTML scenarios sign every user in on an account of its own (the
single-process side of tests/locust/test_accounts_across_workers.py).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.locust.conftest import RELAXED_TARGETS, run_locust
from tests.locust.test_accounts_across_workers import form_sign_ins, signed_in_since

pytestmark = [pytest.mark.slow]

SCENARIOS = {
    "TenantUser": {"/accounts/login/", "/dashboard/", "/inventory/"},
    "APIUser": {"/api/auth/token/", "/api/inventory/"},
    "POSSaleWorkflow": {"/pos/search/", "/pos/checkout/", "/sales/"},
    "InventoryManagementWorkflow": {"/inventory/", "/inventory/[id]"},
    "ReportGenerationWorkflow": {"/reports/daily-sales/", "/reports/daily-sales/pdf/"},
    "CustomerManagementWorkflow": {"/customers/", "/customers/[id]"},
}
WORKFLOWS = {
    "POSSaleWorkflow": "POS sale",
    "InventoryManagementWorkflow": "inventory management",
    "ReportGenerationWorkflow": "report generation",
    "CustomerManagementWorkflow": "customer management",
}
# Clock tolerance when placing a request inside its transaction: both start times come from
# time.time() in the same process; the transaction's length from perf_counter.
CLOCK_SLACK_US = 5_000


def check_transactions_hold_their_steps(record: pa.Table, transactions: pa.Table) -> None:
    """Each transaction's requests (its trace id, sample ratio 1) lie inside its time, their
    count is its `requests`, and for the typical transaction they are most of its time."""
    steps: dict[str, list[tuple[int, int]]] = {}
    for row in record.select(["trace_id", "ts_start_us", "response_time_us"]).to_pylist():
        steps.setdefault(row["trace_id"], []).append((row["ts_start_us"], row["response_time_us"]))
    covered = []
    for tx in transactions.to_pylist():
        mine = steps.get(tx["trace_id"], [])
        assert len(mine) == tx["requests"] > 0, tx
        start, end = tx["ts_start_us"], tx["ts_start_us"] + tx["duration_us"]
        for began, took in mine:
            assert start - CLOCK_SLACK_US <= began, (tx, began)
            assert began + took <= end + CLOCK_SLACK_US, (tx, began, took)
        total = sum(took for _, took in mine)
        assert total <= tx["duration_us"] + CLOCK_SLACK_US  # sequential steps: never more
        covered.append(total / tx["duration_us"])
    # Between steps a user only checks the response it got (parsing, ms at most), so requests
    # fill most of a workflow's time; half leaves room for a loaded machine's scheduling.
    assert statistics.median(covered) >= 0.5, covered


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_runs_without_failures_and_records_every_request(
    scenario: str, live_apps, runs_dir, shops
) -> None:
    app = live_apps()
    before = datetime.now(UTC)
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

    workflow = WORKFLOWS.get(scenario)
    if workflow is not None:
        transactions = run.transactions()
        assert transactions.num_rows > 0
        assert set(transactions["name"].to_pylist()) == {workflow}
        assert set(transactions["scenario"].to_pylist()) == {scenario}
        assert transactions["failure"].null_count == transactions.num_rows  # all succeeded
        check_transactions_hold_their_steps(record, transactions)
    else:
        assert not (run.run_dir / "transactions").exists()  # no workflow, no transactions
    if scenario != "APIUser":  # the form login stamps last_login (the token endpoint does not)
        signed_in = signed_in_since(before)
        assert len(signed_in) == form_sign_ins(record) == 3  # three users, three accounts
