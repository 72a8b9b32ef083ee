"""Fixtures for the load side: shops in the test database, the app under gunicorn, Locust runs.

Locust is only ever run as a subprocess: importing it here would monkey-patch this
pytest process with gevent.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.cache import cache
from django.db import connection

from tests.app.factories import PASSWORD, Shop, make_shop
from tests.harness.environment import REPO_ROOT
from tests.harness.live_app import LiveApp, start_live_app
from tests.harness.processes import free_port

LOCUST = Path(sys.executable).with_name("locust")
LOCUSTFILES = REPO_ROOT / "locustfiles"
# Argon2 logins of several users at once on a shared 2-core machine can take seconds: the
# functional tests judge failures, not latency (test_checks_and_faults.py and
# test_check_record.py cover the latency targets).
RELAXED_TARGETS = {"page_p95_ms": 60000.0, "api_p95_ms": 60000.0}


@dataclass
class LocustRun:
    returncode: int
    run_dir: Path
    output: str

    @property
    def stats_csv(self) -> Path:
        return self.run_dir / "locust" / "stats_stats.csv"

    def csv_rows(self) -> list[dict[str, str]]:
        with self.stats_csv.open(newline="") as handle:
            return list(csv.DictReader(handle))

    def locust_total(self) -> tuple[int, int]:
        """(requests, failures) as Locust counted them when the run ended.

        Read from the `run_finished` event, which the plugin writes from Locust's in-memory
        totals after the users stopped. Locust's stats CSV is not the reference: its writer
        refreshes once a second and does not write again at shutdown, so it can miss the
        requests of the last second.
        """
        finished = [e for e in self.events() if e["kind"] == "run_finished"]
        assert finished, f"no run_finished event in {self.run_dir}\n{self.output[-3000:]}"
        detail = finished[-1]["detail"]
        csv_requests = self.csv_total()[0]
        assert csv_requests <= detail["requests"], "the CSV can lag behind, never run ahead"
        return int(detail["requests"]), int(detail["failures"])

    def csv_total(self) -> tuple[int, int]:
        """(requests, failures) of the Aggregated row of Locust's stats CSV."""
        row = next(r for r in self.csv_rows() if r["Name"] == "Aggregated")
        return int(row["Request Count"]), int(row["Failure Count"])

    def record_rows_by_worker(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for part in (self.run_dir / "requests").glob("*/part-*.parquet"):
            rows[part.parent.name] = rows.get(part.parent.name, 0) + pq.read_metadata(part).num_rows
        return rows

    def record(self) -> pa.Table:
        parts = sorted((self.run_dir / "requests").glob("*/part-*.parquet"))
        assert parts, f"no per-request record in {self.run_dir}\n{self.output[-3000:]}"
        return pa.concat_tables(pq.read_table(p) for p in parts)

    def transactions(self) -> pa.Table:
        """The workflow transactions record (`transactions/<worker>/part-*.parquet`)."""
        parts = sorted((self.run_dir / "transactions").glob("*/part-*.parquet"))
        assert parts, f"no workflow transactions in {self.run_dir}\n{self.output[-3000:]}"
        return pa.concat_tables(pq.read_table(p) for p in parts)

    def events(self) -> list[dict]:
        path = self.run_dir / "events.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def shops(transactional_db: None) -> list[Shop]:
    """Three small shops (tenants), committed so the app's gunicorn sees them."""
    cache.clear()  # sessions and login throttle of earlier tests
    return [make_shop(items=30, customers=8) for _ in range(3)]


@pytest.fixture
def runs_dir(tmp_path: Path, shops: list[Shop]) -> Path:
    """A runs folder holding the seed-format credentials.json for `shops`."""
    folder = tmp_path / "runs"
    folder.mkdir()
    users = [
        {
            "tenant_id": shop.tenant.pk,
            "tenant_slug": shop.tenant.slug,
            "email": shop.user.email,
            "password": PASSWORD,
            "role": shop.user.role,
        }
        for shop in shops
    ]
    (folder / "credentials.json").write_text(
        json.dumps({"scale": "test", "password_hasher": "argon2", "users": users})
    )
    return folder


@pytest.fixture
def live_apps(tmp_path: Path, shops: list[Shop]) -> Iterator[Callable[..., LiveApp]]:
    started: list[LiveApp] = []

    def start(**env: str) -> LiveApp:
        app = start_live_app(
            tmp_path, database_name=connection.settings_dict["NAME"], env=env, workers=2, threads=4
        )
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


def locust_env(runs_dir: Path, run_id: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):  # the app's OTEL_* must not leak into Locust unless asked
        if name.startswith(("OTEL_", "LAB_", "LOCUST_")) and name != "LAB_RUN_TOKEN_KEY":
            del env[name]
    env.update(
        {
            "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}",
            "LAB_RUNS_DIR": str(runs_dir),
            "LAB_RUN_ID": run_id,
            "LAB_PROFILE": "smoke",
            "LAB_LOCUST_METRICS_HOST": "127.0.0.1",
            "LAB_LOCUST_METRICS_PORT": str(free_port()),
        }
    )
    env.update(extra)
    return env


def locust_command(host: str, run_dir: Path, *extra: str) -> list[str]:
    return [
        str(LOCUST),
        "-f",
        str(LOCUSTFILES),
        "--headless",
        "--host",
        host,
        "--csv",
        str(run_dir / "locust" / "stats"),
        "--only-summary",
        *extra,
    ]


def run_locust(
    host: str,
    runs_dir: Path,
    run_id: str,
    env: Mapping[str, str] | None = None,
    extra: tuple[str, ...] = (),
    timeout: float = 120,
    targets: Mapping[str, float] | None = None,
) -> LocustRun:
    """Run Locust to completion; `targets` go into the run's own targets.toml (as `lab run`)."""
    run_dir = runs_dir / run_id
    (run_dir / "locust").mkdir(parents=True, exist_ok=True)
    if targets:
        lines = "".join(f"{key} = {value}\n" for key, value in targets.items())
        (run_dir / "targets.toml").write_text(f"[targets]\n{lines}")
    child_env = locust_env(runs_dir, run_id, **dict(env or {}))
    completed = subprocess.run(
        locust_command(host, run_dir, *extra),
        env=child_env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return LocustRun(completed.returncode, run_dir, completed.stdout + completed.stderr)


def start_process(command: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(command, env=dict(env), cwd=REPO_ROOT, stdout=handle, stderr=handle)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(5)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")
