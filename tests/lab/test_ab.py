"""`lab ab --local` on real runs: the same revision twice, the candidate's app with the
n_plus_one fault; interleaved runs on copies of the same data, Locust against gunicorn.
The fault is found on /api/inventory/ (the list it touches) and on nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.harness.environment import REPO_ROOT
from tests.locust.conftest import runs_dir, shops  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow]

# Argon2 logins on a shared 2-core machine are slow: this test judges the comparison only.
RELAXED = ("page_p95_ms=600000", "api_p95_ms=600000", "db_query_p95_ms=600000")


def _lab_ab(runs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LAB_", "LOCUST_"))}
    env.update(PYTHONPATH=f"{REPO_ROOT / 'app'}:{REPO_ROOT}",
               DATABASE_NAME=connection.settings_dict["NAME"])  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "lab", "--runs-dir", str(runs), "ab", *args],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _verdict_lines(out: str) -> dict[str, str]:
    table = out.split("Verdicts:")[0]
    return {
        line.split(" (few")[0].split("  ")[0]: line
        for line in table.splitlines()
        if line.startswith(("GET ", "POST "))
    }


def test_ab_finds_the_n_plus_one_fault_where_it_is_and_nowhere_else(
    runs_dir: Path,  # noqa: F811
) -> None:
    connection.close()  # our session would only slow the copy of the template down
    result = _lab_ab(
        runs_dir, "HEAD", "HEAD", "--candidate-env", "LAB_FAULTS=n_plus_one",
        "--repeats", "3", "--warmup", "0", "--fail-on-regression", "20%", "--",
        "--profile", "smoke", "--users", "6", "--spawn-rate", "6", "--duration", "15s",
        "--scenario", "APIUser", "--scale", "test",
        *[a for r in RELAXED for a in ("--set", r)],
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-6000:]
    lines = _verdict_lines(result.stdout)
    assert "GET /api/inventory/" in lines, output[-6000:]
    assert "x slower" in lines.pop("GET /api/inventory/")
    assert len(lines) >= 3, lines  # token, detail, sales, customers, dashboard stats
    flagged = {
        name: line for name, line in lines.items() if "x slower" in line or "x faster" in line
    }
    assert flagged == {}, output[-6000:]
    assert "REGRESSION beyond 20%" in result.stdout

    runs = sorted(p for p in runs_dir.iterdir() if (p / "meta.json").is_file())
    metas = [json.loads((p / "meta.json").read_text()) for p in runs]
    assert [m["ab"]["side"] for m in metas] == ["A", "B"] * 3  # interleaved
    assert {m["ab"]["env"].get("LAB_FAULTS") for m in metas if m["ab"]["side"] == "B"} == {
        "n_plus_one"
    }
    assert all(m["machine_load"]["samples"] >= 1 for m in metas)
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", ["%\\_ab\\_%"])
        assert cursor.fetchall() == []  # every copy made for the runs is gone


def test_ab_refuses_an_unknown_revision(runs_dir: Path) -> None:  # noqa: F811
    result = _lab_ab(runs_dir, "HEAD", "no-such-branch-xyz")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "unknown git revision 'no-such-branch-xyz'" in result.stderr
    assert not (runs_dir / ".ab").exists()
