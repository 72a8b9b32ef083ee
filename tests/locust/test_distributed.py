"""Master plus two worker processes: one record per worker, metrics on the master, a lost worker."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from tests.harness.processes import free_port
from tests.locust.conftest import (
    RELAXED_TARGETS,
    LocustRun,
    locust_command,
    locust_env,
    start_process,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.slow]


def start_cluster(app_url: str, runs_dir: Path, run_id: str, duration: str, tmp_path: Path):
    run_dir = runs_dir / run_id
    (run_dir / "locust").mkdir(parents=True)
    lines = "".join(f"{key} = {value}\n" for key, value in RELAXED_TARGETS.items())
    (run_dir / "targets.toml").write_text(f"[targets]\n{lines}")
    master_port = free_port()
    env = locust_env(
        runs_dir,
        run_id,
        LAB_SCENARIO="InventoryManagementWorkflow",
        LAB_USERS="4",
        LAB_SPAWN_RATE="4",
        LAB_DURATION=duration,
    )
    master = start_process(
        locust_command(
            app_url,
            run_dir,
            "--master",
            "--expect-workers",
            "2",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(master_port),
        ),
        env,
        tmp_path / "master.log",
    )
    worker_env = {k: v for k, v in env.items() if k != "LAB_RUN_ID"}  # workers get the master's
    workers = [
        start_process(
            [
                str(locust_command(app_url, run_dir)[0]),
                "-f",
                locust_command(app_url, run_dir)[2],
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(master_port),
            ],
            worker_env,
            tmp_path / f"worker-{i}.log",
        )
        for i in range(2)
    ]
    return master, workers, env["LAB_LOCUST_METRICS_PORT"], run_dir


def scrape(port: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def metric_sum(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def test_master_and_two_workers_record_everything_once(live_apps, runs_dir, tmp_path) -> None:
    app = live_apps()
    run_id = "20260101-000000-smoke-d157"
    master, workers, metrics_port, run_dir = start_cluster(
        app.url, runs_dir, run_id, "14s", tmp_path
    )
    try:
        # Mid-run: two workers running and requests counted (polled: a loaded machine can
        # take many seconds just to start the processes).
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and master.poll() is None:
            try:
                text = scrape(metrics_port)
            except OSError:
                text = ""
            running = f'locust_workers{{run_id="{run_id}",state="running"}} 2.0' in text
            if running and metric_sum(text, "locust_requests_total{") > 0:
                break
            time.sleep(0.5)
        code = master.wait(90)
    finally:
        for process in (master, *workers):
            stop(process)
    run = LocustRun(code, run_dir, (tmp_path / "master.log").read_text())
    assert code == 0, run.output[-4000:]

    assert f'locust_workers{{run_id="{run_id}",state="running"}} 2.0' in text, text
    cpu_lines = [line for line in text.splitlines() if line.startswith("locust_cpu_percent{")]
    assert len(cpu_lines) == 3, cpu_lines  # two workers and the master
    assert 'le="0.5"' in text
    assert 'le="2.0"' in text
    requests, failures = run.locust_total()
    mid_run = metric_sum(text, "locust_requests_total{")
    assert 0 < mid_run <= requests  # counted once (twice would overshoot the final total)

    assert failures == 0
    record = run.record()
    assert record.num_rows == requests
    folders = sorted(p.name for p in (run_dir / "requests").iterdir())
    assert len(folders) == 2
    assert "local" not in folders
    assert sorted(set(record["worker_id"].to_pylist())) == folders


def test_a_killed_worker_is_recorded_and_the_run_completes(live_apps, runs_dir, tmp_path) -> None:
    app = live_apps()
    run_id = "20260101-000000-smoke-dead"
    master, workers, _port, run_dir = start_cluster(app.url, runs_dir, run_id, "16s", tmp_path)
    try:
        wait_for(lambda: (run_dir / "requests").is_dir(), 30, "workers to start recording")
        time.sleep(4)
        os.kill(workers[0].pid, signal.SIGKILL)
        code = master.wait(120)
    finally:
        for process in (master, *workers):
            stop(process)
    run = LocustRun(code, run_dir, (tmp_path / "master.log").read_text())
    kinds = [event["kind"] for event in run.events()]
    assert "worker_lost" in kinds, kinds
    assert "untrustworthy" in kinds
    assert kinds[-1] == "run_finished"
    assert code == 3, run.output[-4000:]  # not trustworthy (lab's EXIT_UNTRUSTWORTHY)
    requests, _failures = run.locust_total()
    # The dead worker may have flushed rows it never reported to the master, or reported
    # requests it never flushed: any difference from Locust's count is confined to its rows.
    [dead] = [e["detail"]["worker"] for e in run.events() if e["kind"] == "worker_lost"]
    rows = run.record_rows_by_worker()
    survivors = {worker: n for worker, n in rows.items() if worker != dead}
    assert survivors, rows
    assert all(n > 0 for n in survivors.values()), rows
    assert abs(sum(rows.values()) - requests) <= rows.get(dead, 0), (rows, requests)
