"""Targets judged from the exact record decide the exit code.

A planted fault is shown by deterministic signals, never by timing: the N+1 fault by the
app's queries per request (tests/observability/test_app_metrics.py) and by `lab report` on a
real run (tests/lab/test_end_to_end.py); a few extra loopback queries are a few ms, the same
size as a shared machine's noise.
"""

from __future__ import annotations

import pytest

from tests.locust.conftest import run_locust

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
