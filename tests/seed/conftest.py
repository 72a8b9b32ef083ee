"""Fixtures of the seed tests: run `python -m seed` as a subprocess against the test database.

The seed commits its own transaction, so these tests use `django_db(transaction=True)`
(pytest-django flushes the tables afterwards) and point the subprocess at the test database
by name (`connection.settings_dict["NAME"]`), through PgBouncer unless told `direct=True`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from tests.harness.environment import REPO_ROOT
from tests.seed.support import SEED_TIMEOUT_S


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def run_seed(runs_dir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_seed(*args, direct=False, env=None)`: the CLI's exit code, stdout and stderr."""

    def run(
        *args: str, direct: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(os.environ)
        environment["DATABASE_NAME"] = connection.settings_dict["NAME"]
        environment["LAB_RUNS_DIR"] = str(runs_dir)
        if direct:
            environment["DATABASE_PORT"] = environment["DATABASE_DIRECT_PORT"]
        environment.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "seed", *args],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=SEED_TIMEOUT_S,
            check=False,
        )

    return run
