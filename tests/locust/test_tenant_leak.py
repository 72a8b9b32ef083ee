"""A real leak, found by a real load test: the API scenario against an app with
LAB_FAULTS=tenant_leak fails its inventory requests as TenantLeak. (The same scenario
against the clean app has zero failures: tests/locust/test_scenarios.py.)"""

from __future__ import annotations

import re

import pyarrow.compute as pc
import pytest

from tests.locust.conftest import RELAXED_TARGETS, run_locust

pytestmark = [pytest.mark.slow]

LEAK = re.compile(r"TenantLeak: tenant (\d+) data shown to tenant (\d+)")


def test_api_scenario_finds_the_tenant_leak(live_apps, runs_dir, shops) -> None:
    app = live_apps(LAB_FAULTS="tenant_leak")
    run = run_locust(
        app.url,
        runs_dir,
        "20260101-000000-smoke-1ea0",
        env={
            "LAB_SCENARIO": "APIUser",
            "LAB_USERS": "2",
            "LAB_SPAWN_RATE": "2",
            "LAB_DURATION": "8s",
        },
        targets=RELAXED_TARGETS,
    )
    assert run.returncode == 1, run.output[-4000:]  # the failure ratio breaches its target
    record = run.record()
    lists = record.filter(pc.equal(record["name"], "/api/inventory/"))
    assert lists.num_rows > 0
    failures = lists["failure"].to_pylist()
    assert all(failure and LEAK.fullmatch(failure) for failure in failures), failures
    tenants = {shop.tenant.pk for shop in shops}
    for failure, user_tenant in zip(failures, lists["tenant_id"].to_pylist(), strict=True):
        shown, to = map(int, LEAK.fullmatch(failure).groups())
        assert to == user_tenant
        assert shown in tenants - {user_tenant}
    failed = [e["detail"] for e in run.events() if e["kind"] == "check_failed"]
    assert any(d["check"] == "failure_ratio" and d["name"] == "/api/inventory/" for d in failed)
