"""`lab run` with real Locust processes: a dead worker, a run that cannot start, web UI runs."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import requests

from lab.contract import STATUS_COMPLETED, STATUS_FAILED_TO_START, is_run_id
from tests.harness.environment import REPO_ROOT
from tests.harness.processes import free_port
from tests.locust.conftest import LOCUST, LOCUSTFILES, locust_env, stop, wait_for

pytestmark = [pytest.mark.slow]

RELAXED = ["--set", "page_p95_ms=60000", "--set", "api_p95_ms=60000"]


def lab_run_env(runs_dir: Path, **extra: str) -> dict[str, str]:
    env = locust_env(runs_dir, "unused", **extra)
    for name in ("LAB_RUN_ID", "LAB_PROFILE"):
        env.pop(name, None)
    return env


def lab_run(runs_dir: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lab", "--runs-dir", str(runs_dir), "run", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def only_run(runs_dir: Path) -> Path:
    [run_dir] = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run_dir


def events(run_dir: Path) -> list[dict]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def rows_by_worker(run_dir: Path) -> dict[str, int]:
    rows: dict[str, int] = {}
    for part in (run_dir / "requests").glob("*/part-*.parquet"):
        rows[part.parent.name] = rows.get(part.parent.name, 0) + pq.read_metadata(part).num_rows
    return rows


def test_a_dead_worker_does_not_end_the_run(live_apps, runs_dir: Path) -> None:
    app = live_apps()
    env = lab_run_env(runs_dir, LAB_HEARTBEAT_LIVENESS="3")
    lab = lab_run(runs_dir, "--profile", "smoke", "--local", "--workers", "2",
                  "--scenario", "InventoryManagementWorkflow", "--users", "4",
                  "--spawn-rate", "4", "--duration", "30s", "--target", app.url, *RELAXED,
                  env=env)  # fmt: skip
    try:
        wait_for(
            lambda: (
                any(runs_dir.glob("*/requests/*/part-*.parquet"))
                and len(list(runs_dir.glob("*/requests/*"))) == 2
            ),
            90,
            "both workers recording",
        )
        workers = [
            child
            for child in psutil.Process(lab.pid).children(recursive=True)
            if "--worker" in child.cmdline()
        ]
        assert len(workers) == 2
        killed_at = time.monotonic()
        workers[0].send_signal(signal.SIGKILL)
        out, err = lab.communicate(timeout=240)
    finally:
        if lab.poll() is None:
            lab.kill()
    run_dir = only_run(runs_dir)
    assert lab.returncode == 3, out + err  # untrustworthy
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == STATUS_COMPLETED  # the master went on to the planned end
    found = events(run_dir)
    [lost] = [e["detail"] for e in found if e["kind"] == "worker_lost"]
    assert isinstance(lost["reported_requests"], int)
    finished = found[-1]
    assert finished["kind"] == "run_finished"
    assert finished["detail"]["ran_s"] >= 24 - 3
    assert time.monotonic() - killed_at > 5  # not ended by the kill
    # Survivors' records are complete: each recorded exactly what it reported to the master.
    reported = finished["detail"]["reported_by_worker"]
    rows = rows_by_worker(run_dir)
    survivors = [w for w in reported if w != lost["worker"]]
    assert survivors
    for worker in survivors:
        assert rows.get(worker) == reported[worker] > 0, (rows, reported)
    [record] = [e["detail"] for e in found if e["kind"] == "lost_worker_record"]
    assert record["not_recorded"] == max(
        0, record["reported_requests"] - rows.get(lost["worker"], 0)
    )
    html = (run_dir / "report.html").read_text()
    summary = (run_dir / "summary.md").read_text()
    for text in (html, summary):
        assert "Load generator unhealthy" in text
        assert f"worker {lost['worker']} lost" in text
        assert "reported but not recorded" in text
    assert "UNTRUSTWORTHY" in out


def test_ctrl_c_keeps_every_record_and_marks_the_run_interrupted(live_apps, runs_dir) -> None:
    app = live_apps()
    lab = lab_run(runs_dir, "--profile", "smoke", "--local", "--scenario", "APIUser",
                  "--users", "2", "--spawn-rate", "2", "--duration", "60s", "--target", app.url,
                  *RELAXED, env=lab_run_env(runs_dir))  # fmt: skip
    try:
        wait_for(lambda: any(runs_dir.glob("*/requests/*/part-*.parquet")), 90, "records")
        lab.send_signal(signal.SIGINT)
        out, err = lab.communicate(timeout=120)
    finally:
        if lab.poll() is None:
            lab.kill()
    assert lab.returncode == 130, out + err
    run_dir = only_run(runs_dir)
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "interrupted"
    [finished] = [e["detail"] for e in events(run_dir) if e["kind"] == "run_finished"]
    assert finished["ran_s"] < 60
    rows = sum(rows_by_worker(run_dir).values())
    assert rows == finished["record_rows"] == finished["requests"] > 0  # every request kept
    assert "PARTIAL" in (run_dir / "report.html").read_text()


def test_a_run_that_cannot_start_is_failed_to_start(live_apps, runs_dir: Path) -> None:
    app = live_apps()
    lab = lab_run(runs_dir, "--profile", "smoke", "--local", "--scenario", "NoSuchUser",
                  "--target", app.url, env=lab_run_env(runs_dir))  # fmt: skip
    out, err = lab.communicate(timeout=120)
    assert lab.returncode == 3, out + err
    run_dir = only_run(runs_dir)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == STATUS_FAILED_TO_START
    assert "failed_to_start" in err
    assert "PARTIAL" in (run_dir / "report.html").read_text()


def _logged_in(port: int, password: str) -> requests.Session:
    """The UI is behind the lab's login (locustfiles/_guard.py)."""
    session = requests.Session()
    answer = session.post(
        f"http://127.0.0.1:{port}/lab-login",
        data={"username": "lab", "password": password},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    return session


def _post_swarm(session: requests.Session, port: int, **form: str) -> dict:
    answer = session.post(f"http://127.0.0.1:{port}/swarm", data=form, timeout=20)
    return dict(answer.json())


def _ui_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _run_folders(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir())


def _finished_meta(run_dir: Path) -> dict | None:
    try:
        meta = json.loads((run_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if meta.get("status") != "running" else None


def test_web_ui_tests_are_runs_with_the_typed_users(live_apps, runs_dir: Path, tmp_path) -> None:
    app = live_apps()
    port = free_port()
    password = secrets.token_hex(16)
    env = locust_env(
        runs_dir, "unused", LAB_SCENARIO="InventoryManagementWorkflow",
        LAB_LOCUST_WEB_PASSWORD=password,
    )  # fmt: skip
    env.pop("LAB_RUN_ID")
    log = (tmp_path / "ui.log").open("wb")
    ui = subprocess.Popen(
        [str(LOCUST), "-f", str(LOCUSTFILES), "--web-host", "127.0.0.1", "--web-port",
         str(port), "--host", app.url],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        wait_for(lambda: _ui_up(port), 90, "Locust's web UI")
        assert _run_folders(runs_dir) == []  # no run folder before a test starts
        session = _logged_in(port, password)
        ids = []
        for users in (2, 3):
            answer = _post_swarm(
                session, port, user_count=str(users), spawn_rate=str(users), run_time="8s"
            )
            assert answer["success"], answer
            wait_for(lambda: len(_run_folders(runs_dir)) == len(ids) + 1, 60, "a run folder")
            run_dir = _run_folders(runs_dir)[-1]
            wait_for(lambda d=run_dir: _finished_meta(d) is not None, 120, "the UI run's end")
            meta = _finished_meta(run_dir)
            assert is_run_id(run_dir.name)
            assert meta["mode"] == "ui"
            assert meta["users"] == users
            assert meta["status"] == STATUS_COMPLETED
            [started] = [e["detail"] for e in events(run_dir) if e["kind"] == "load_started"]
            assert [s["users"] for s in started["stages"]] == [users]  # typed, not the profile's 3
            assert started["planned_s"] == 8
            ids.append(run_dir.name)
        assert len(set(ids)) == 2
    finally:
        stop(ui)
        log.close()
    for run_id in ids:
        report = subprocess.run(
            [sys.executable, "-m", "lab", "--runs-dir", str(runs_dir), "report", run_id],
            cwd=REPO_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        # 0, 1 or 3 (a loaded machine may warn of CPU): a report, not a refusal (2).
        assert report.returncode in (0, 1, 3), report.stdout + report.stderr
        assert report.stdout.split(":")[1].strip() == run_id
        assert (runs_dir / run_id / "report.html").is_file()
