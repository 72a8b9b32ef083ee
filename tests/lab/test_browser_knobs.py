"""`lab run --browsers N`: refused when it cannot be right; the Compose worker's memory cap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.runner import (
    BROWSER_USER_MEM_MIB,
    WORKER_MEM_MIB,
    RunOptions,
    lab_env,
    validate,
    worker_mem_limit,
)
from tests.harness.environment import REPO_ROOT


def options(**over: object) -> RunOptions:
    return RunOptions(runs_root=Path("runs"), profile="smoke", **over)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"browsers": -1}, "--browsers must not be negative"),
        ({"users": 2, "browsers": 3}, "--browsers 3 is more than --users 2"),
    ],
)
def test_bad_browser_counts_are_refused(over: dict, message: str) -> None:
    with pytest.raises(LabError, match=message):
        validate(options(**over))


def test_worker_memory_grows_per_browser_on_the_busiest_worker() -> None:
    assert worker_mem_limit(0, 2) is None
    assert worker_mem_limit(1, 2) == f"{WORKER_MEM_MIB + BROWSER_USER_MEM_MIB}m"
    assert worker_mem_limit(3, 2) == f"{WORKER_MEM_MIB + 2 * BROWSER_USER_MEM_MIB}m"


def test_browser_knobs_reach_locust_and_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_BROWSER_MEM_MIB", raising=False)
    local = lab_env(options(users=23, browsers=3), "20260101-000000-smoke-abcd", "runs")
    assert local["LAB_BROWSERS"] == "3"
    assert "LAB_LOCUST_WORKER_MEM" not in local  # a local run has no container to cap
    plain = lab_env(options(users=20, compose=True, workers=2), "r", "runs")
    assert "LAB_BROWSERS" not in plain
    assert "LAB_LOCUST_WORKER_MEM" not in plain  # HTTP only: the lab's own limit stands
    every = lab_env(options(scenario="BrowserUser", compose=True, workers=1), "r", "runs")
    assert every["LAB_LOCUST_WORKER_MEM"] == f"{WORKER_MEM_MIB + 3 * BROWSER_USER_MEM_MIB}m"


PROBE = (
    "import sys, locustfiles.browser_users as b; "
    "print(hasattr(b, 'BrowserUser'), 'playwright' in sys.modules, 'locust_plugins' in sys.modules)"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "False False False"),  # HTTP-only runs: no Playwright, no locust-plugins listeners
        ({"LAB_BROWSERS": "0"}, "False False False"),
        ({"LAB_BROWSERS": "2"}, "True True True"),
        ({"LAB_SCENARIO": "BrowserUser"}, "True True True"),
    ],
)
def test_browser_users_are_defined_only_when_asked_for(env: dict, expected: str) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "LOCUST_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**base, **env, "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == expected
