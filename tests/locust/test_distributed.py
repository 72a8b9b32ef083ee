"""Master plus two worker processes: one record per worker, metrics on the master.

A dead worker: tests/locust/test_run_status.py (through `lab run`).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import pyarrow.compute as pc
import pytest

from lab.health import status_from_events
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


LATE_INIT_WORKER = Path(__file__).with_name("late_init_worker.py")


def start_cluster(
    app_url: str,
    runs_dir: Path,
    run_id: str,
    duration: str,
    tmp_path: Path,
    late_init_worker: bool = False,
    **extra: str,
):
    """Master and two workers; `late_init_worker`: worker 0 runs users before its init."""
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
        **extra,
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
    locustfiles = locust_command(app_url, run_dir)[2]
    late = f"{LATE_INIT_WORKER},{locustfiles}"
    workers = [
        start_process(
            [
                str(locust_command(app_url, run_dir)[0]),
                "-f",
                late if late_init_worker and i == 0 else locustfiles,
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


def rows_started_before(run: LocustRun, unix_s: float) -> int:
    record = run.record()
    return pc.sum(pc.less(record["ts_start_us"], int(unix_s * 1_000_000))).as_py() or 0


def test_master_and_two_workers_record_everything_once(live_apps, runs_dir, tmp_path) -> None:
    app = live_apps()
    run_id = "20260101-000000-smoke-d157"
    master, workers, metrics_port, run_dir = start_cluster(
        app.url, runs_dir, run_id, "14s", tmp_path
    )
    scraped: dict[str, object] = {}

    def busy() -> bool:
        # Mid-run, once both workers run and have reported a few requests to the master.
        try:
            text = scrape(metrics_port)
        except OSError:
            return False
        scraped.update(text=text, at=time.time())
        running = f'locust_workers{{run_id="{run_id}",state="running"}} 2.0' in text
        return running and metric_sum(text, "locust_requests_total{") >= 10

    try:
        wait_for(busy, 60, "two running workers with 10 requests reported")
        text, scraped_at = str(scraped["text"]), float(scraped["at"])  # type: ignore[arg-type]
        code = master.wait(120)
    finally:
        for process in (master, *workers):
            stop(process)
    run = LocustRun(code, run_dir, (tmp_path / "master.log").read_text())
    assert code == 0, run.output[-4000:]

    cpu_lines = [line for line in text.splitlines() if line.startswith("locust_cpu_percent{")]
    assert len(cpu_lines) == 3, cpu_lines  # two workers and the master
    assert 'le="0.5"' in text
    assert 'le="2.0"' in text
    requests, failures = run.locust_total()
    mid_run = metric_sum(text, "locust_requests_total{")
    # Counted once: the master cannot have heard of more requests than had started by the
    # time it answered (each is in the record with its start time). Counting the workers'
    # reports twice would double the figure, which no 3 s report lag makes up for.
    assert 0 < mid_run <= rows_started_before(run, scraped_at) <= requests

    assert failures == 0
    kinds = [event["kind"] for event in run.events()]
    for kind in ("worker_lost", "load_off_plan", "untrustworthy", "record_incomplete"):
        assert kind not in kinds, run.events()  # a healthy run is not flagged
    assert status_from_events(run_dir / "events.jsonl", interrupted=False) == "completed"
    finished = run.events()[-1]["detail"]
    assert finished["reported_by_worker"] == run.record_rows_by_worker()
    record = run.record()
    assert record.num_rows == requests
    folders = sorted(p.name for p in (run_dir / "requests").iterdir())
    assert len(folders) == 2
    assert "local" not in folders
    assert sorted(set(record["worker_id"].to_pylist())) == folders
    for i in range(2):  # one folder for all: the fast local case, found by the master's nonce
        log = (tmp_path / f"worker-{i}.log").read_text()
        assert "writes its per-request record parts to" in log, log[-3000:]


def test_a_worker_that_runs_users_before_its_init_records_them(
    live_apps, runs_dir, tmp_path
) -> None:
    """The master's spawn reaches a worker before Locust fired its `init` (it connects first):
    that worker's requests, the early ones too, are in its record, as are the other's."""
    app = live_apps()
    run_id = "20260101-000000-smoke-1a7e"
    master, workers, _port, run_dir = start_cluster(
        app.url, runs_dir, run_id, "10s", tmp_path, late_init_worker=True
    )
    try:
        code = master.wait(120)
    finally:
        for process in (master, *workers):
            stop(process)
    run = LocustRun(code, run_dir, (tmp_path / "master.log").read_text())
    by_worker = run.record_rows_by_worker()
    assert len(by_worker) == 2, (by_worker, run.events())  # both workers recorded
    finished = run.events()[-1]["detail"]
    assert finished["reported_by_worker"] == by_worker
    assert run.record().num_rows == run.locust_total()[0]
    kinds = [event["kind"] for event in run.events()]
    assert "record_incomplete" not in kinds, run.events()
    assert code == 0, run.output[-4000:]
    late_log = (tmp_path / "worker-0.log").read_text()
    assert "the test started before Locust's init" in late_log, late_log[-3000:]


def test_a_worker_that_misses_heartbeats_and_comes_back_is_reported(
    live_apps, runs_dir, tmp_path
) -> None:
    """A worker frozen (SIGSTOP) past the heartbeat liveness, then thawed: Locust calls it
    missing, then takes it back. The run says so, stays untrustworthy, and loses no request."""
    app = live_apps()
    run_id = "20260101-000000-smoke-f2ee"
    master, workers, _port, run_dir = start_cluster(
        app.url, runs_dir, run_id, "30s", tmp_path, LAB_HEARTBEAT_LIVENESS="3"
    )
    frozen = workers[0]
    try:
        # Freeze a worker once both have written requests: both certainly joined and ran.
        wait_for(
            lambda: len({p.parent for p in (run_dir / "requests").glob("*/part-*.parquet")}) == 2,
            60,
            "both workers' first record parts",
        )
        os.kill(frozen.pid, signal.SIGSTOP)
        wait_for(lambda: "worker_lost" in (run_dir / "events.jsonl").read_text(), 30, "worker_lost")
        os.kill(frozen.pid, signal.SIGCONT)
        code = master.wait(120)
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
        for process in (master, *workers):
            stop(process)
    run = LocustRun(code, run_dir, (tmp_path / "master.log").read_text())
    assert code == 3, run.output[-3000:]
    found = run.events()
    [lost] = [e["detail"]["worker"] for e in found if e["kind"] == "worker_lost"]
    [back] = [e["detail"]["worker"] for e in found if e["kind"] == "worker_returned"]
    assert lost == back
    assert (
        "worker_lost" in next(e for e in found if e["kind"] == "untrustworthy")["detail"]["reasons"]
    )
    finished = found[-1]["detail"]
    assert status_from_events(run_dir / "events.jsonl", interrupted=False) == "completed"
    # Every request each worker reported is in its record: the thawed one's too.
    assert finished["reported_by_worker"] == run.record_rows_by_worker()
