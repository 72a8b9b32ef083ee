"""Sessions wiped mid-run: HTML users fail once as `SignedOut`, sign in again, and go on.

Before, a user sent to the sign-in page never signed in again: every later request failed
("page rendered for nobody signed in") until the end of the run. Here every session is deleted
(database and Redis) while TenantUser users browse; each user must lose about one request.
"""

from __future__ import annotations

import time

import pyarrow.compute as pc
import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache

from tests.locust.conftest import (
    LocustRun,
    locust_command,
    locust_env,
    start_process,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.slow]

USERS = 3


def test_html_users_sign_in_again_after_losing_their_session(live_apps, runs_dir) -> None:
    app = live_apps()
    run_id = "20260101-000000-smoke-5157"
    run_dir = runs_dir / run_id
    (run_dir / "locust").mkdir(parents=True)
    env = locust_env(
        runs_dir,
        run_id,
        LAB_SCENARIO="TenantUser",
        LAB_USERS=str(USERS),
        LAB_SPAWN_RATE=str(USERS),
        LAB_DURATION="20s",
    )
    process = start_process(locust_command(app.url, run_dir), env, run_dir / "locust.out")
    try:
        wait_for(lambda: Session.objects.count() >= USERS, 30, "every user to sign in")
        wiped_at_us = time.time_ns() // 1000
        Session.objects.all().delete()
        cache.clear()
        assert process.wait(timeout=90) == 1  # the failed requests breach the failure target
    finally:
        stop(process)
    run = LocustRun(process.returncode, run_dir, (run_dir / "locust.out").read_text())

    record = run.record()
    after = record.filter(pc.greater_equal(record["ts_start_us"], wiped_at_us))
    failures = [f for f in after["failure"].to_pylist() if f is not None]
    assert failures, "nobody noticed the lost session: the test did not wipe it in time"
    assert all(f.startswith("SignedOut") for f in failures), failures
    assert len(failures) <= 2 * USERS, failures  # about one per user, not one per request
    sign_ins = pc.sum(
        pc.and_(pc.equal(after["name"], "/accounts/login/"), pc.equal(after["method"], "POST"))
    ).as_py()
    assert sign_ins >= len(failures)
    pages_served = pc.sum(
        pc.and_(pc.is_null(after["failure"]), pc.not_equal(after["name"], "/accounts/login/"))
    ).as_py()
    assert pages_served > len(failures), "the users did not go on browsing after signing in again"
