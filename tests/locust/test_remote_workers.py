"""Workers that do not share the master's runs folder: results travel over Locust's messaging.

A master and two worker processes, each worker with its own empty runs folder (no seed
credentials, no run folder): the layout of workers on another host or in a Kubernetes pod.
The workers find out by themselves (no nonce of the master in their folder), get their
accounts from the master's ledger (locust-plugins' Distributor) and send their record parts
(requests and workflow transactions) to it in chunks. Both ways:

- complete delivery: the master's run folder is what a one-host run leaves, the record's
  rows equal Locust's total, and nothing lands in the workers' folders;
- a worker killed in the middle of an upload: its unfinished part is never written, the run
  says `record_part_lost` and `worker_lost`, untrustworthy (exit 3), never a silent short
  record.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
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
)

pytestmark = [pytest.mark.slow]

DYING_WORKER = Path(__file__).with_name("dying_upload_worker.py")


def start_split_cluster(
    app_url: str, runs_dir: Path, run_id: str, duration: str, tmp_path: Path, dying: bool
):
    """A master on `runs_dir`; two workers on folders of their own; worker 0 dies if asked.

    Dying: heartbeats missed for 3 s make a worker lost (the run is short). Healthy: the lab's
    default 10 s, so a loaded machine's late heartbeat is not taken for a death.
    """
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
        LAB_HEARTBEAT_LIVENESS="3" if dying else "10",
        LAB_RECORD_FLUSH_SECONDS="1",
    )
    master = start_process(
        locust_command(
            app_url, run_dir, "--master", "--expect-workers", "2",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
        ),
        env,
        tmp_path / "master.log",
    )  # fmt: skip
    locustfiles = locust_command(app_url, run_dir)[2]
    worker_dirs = []
    workers = []
    for i in range(2):
        own = tmp_path / f"worker-{i}-runs"
        own.mkdir()
        worker_dirs.append(own)
        worker_env = {k: v for k, v in env.items() if k != "LAB_RUN_ID"}
        # Its own folder, and chunks small enough that every part takes several messages.
        worker_env.update(LAB_RUNS_DIR=str(own), LAB_RECORD_CHUNK_BYTES="1024")
        files = f"{DYING_WORKER},{locustfiles}" if dying and i == 0 else locustfiles
        command = [
            str(locust_command(app_url, run_dir)[0]), "-f", files, "--worker",
            "--master-host", "127.0.0.1", "--master-port", str(master_port),
        ]  # fmt: skip
        workers.append(start_process(command, worker_env, tmp_path / f"worker-{i}.log"))
    return master, workers, worker_dirs, run_dir


def finish(master, workers, tmp_path: Path, run_dir: Path) -> LocustRun:
    try:
        code = master.wait(120)
    finally:
        for process in (master, *workers):
            stop(process)
    return LocustRun(code, run_dir, (tmp_path / "master.log").read_text())


def test_remote_workers_deliver_every_part_to_the_master(live_apps, runs_dir, tmp_path) -> None:
    app = live_apps()
    run_id = "20260101-000000-smoke-0e17"
    master, workers, worker_dirs, run_dir = start_split_cluster(
        app.url, runs_dir, run_id, "10s", tmp_path, dying=False
    )
    run = finish(master, workers, tmp_path, run_dir)
    logs = [(tmp_path / f"worker-{i}.log").read_text() for i in range(2)]
    assert run.returncode == 0, run.output[-3000:] + logs[0][-2000:]
    for log in logs:
        assert "sends its per-request record parts to the master" in log, log[-3000:]
        assert "sends its workflow transactions record parts to the master" in log, log[-3000:]
    requests, failures = run.locust_total()
    assert failures == 0
    record = run.record()
    assert record.num_rows == requests > 0  # every request Locust counted, once
    by_worker = run.record_rows_by_worker()
    assert len(by_worker) == 2, by_worker  # both workers' parts, in their own folders
    assert run.events()[-1]["detail"]["reported_by_worker"] == by_worker
    assert sorted(set(record["worker_id"].to_pylist())) == sorted(by_worker)
    kinds = [event["kind"] for event in run.events()]
    for kind in ("worker_lost", "record_incomplete", "record_part_lost", "untrustworthy"):
        assert kind not in kinds, run.events()  # a healthy run is not flagged
    assert status_from_events(run_dir / "events.jsonl", interrupted=False) == "completed"
    # The layout of a one-host run: parts only, no temporary files left behind.
    files = sorted(p.name for p in (run_dir / "requests").rglob("*") if p.is_file())
    assert files
    assert all(name.startswith("part-") and name.endswith(".parquet") for name in files)
    assert max(len(list(folder.iterdir())) for folder in (run_dir / "requests").iterdir()) > 1
    # The workers wrote nothing of the run on their own disks.
    for own in worker_dirs:
        assert not list(own.rglob("*.parquet")), list(own.rglob("*"))


def test_a_remote_worker_killed_mid_upload_makes_the_run_untrustworthy(
    live_apps, runs_dir, tmp_path
) -> None:
    app = live_apps()
    run_id = "20260101-000000-smoke-de17"
    master, workers, _dirs, run_dir = start_split_cluster(
        app.url, runs_dir, run_id, "18s", tmp_path, dying=True
    )
    run = finish(master, workers, tmp_path, run_dir)
    dying_log = (tmp_path / "worker-0.log").read_text()
    assert "killing myself mid-upload" in dying_log, dying_log[-3000:]
    events = run.events()
    assert run.returncode == 3, (run.output[-3000:], events)
    lost = [e["detail"] for e in events if e["kind"] == "record_part_lost"]
    # The request part cut mid-upload; any other part the dead worker had in flight (its
    # workflow transactions) is lost with it, never another worker's.
    [lost_part] = [d for d in lost if d["record"] == "requests"]
    dead = lost_part["worker"]
    assert {d["worker"] for d in lost} == {dead}, lost
    assert 0 < lost_part["received_bytes"] < lost_part["size"]
    assert dead in {e["detail"]["worker"] for e in events if e["kind"] == "worker_lost"}
    [verdict] = [e["detail"] for e in events if e["kind"] == "untrustworthy"]
    assert {"worker_lost", "record_part_lost"} <= set(verdict["reasons"])
    # The part that never arrived whole is not on disk; every part there is complete.
    dead_folder = run_dir / "requests" / dead
    assert not (dead_folder / f"part-{lost_part['seq']:06d}.parquet").exists()
    parts = sorted(dead_folder.glob("part-*.parquet"))
    assert parts, "the dead worker's first, complete part is in the record"
    assert all(pq.read_metadata(part).num_rows > 0 for part in parts)
    assert not [p for p in (run_dir / "requests").rglob("*") if p.name.startswith(".")]
