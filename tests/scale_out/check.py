"""Steps of `make scale-out-proof` (tests/scale_out/run.sh) that talk to the lab's master.

    python -m tests.scale_out.check wait-workers URL N      until N workers are connected
    python -m tests.scale_out.check run URL USERS SECONDS   start a test from the master's
                                                            HTTP API, print its run id at the end
    python -m tests.scale_out.check verify RUN_DIR REMOTE_IDS  every worker's record and spans

URL is the master's web UI; the password comes from LAB_LOCUST_WEB_PASSWORD.
Exit 0 when the step's condition holds, 1 with one line saying what failed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import requests

from lab.contract import UNTRUSTWORTHY_EVENTS, RunFolder

TIMEOUT_S = 180.0


def fail(message: str) -> int:
    print(f"[scale-out] FAIL: {message}", file=sys.stderr)
    return 1


def log(message: str) -> None:
    print(f"[scale-out] {message}", file=sys.stderr, flush=True)


def session(url: str) -> requests.Session:
    client = requests.Session()
    answer = client.post(
        f"{url}/lab-login",
        data={"username": "lab", "password": os.environ["LAB_LOCUST_WEB_PASSWORD"]},
        timeout=10,
        allow_redirects=False,
    )
    answer.raise_for_status()
    return client


def workers(client: requests.Session, url: str) -> list[dict]:
    return client.get(f"{url}/stats/requests", timeout=10).json().get("workers", [])


def wait_workers(url: str, count: int) -> int:
    client = session(url)
    deadline = time.monotonic() + TIMEOUT_S
    seen: list[dict] = []
    while time.monotonic() < deadline:
        seen = workers(client, url)
        if len(seen) >= count:
            log(f"{len(seen)} workers connected: {', '.join(w['id'] for w in seen)}")
            return 0
        time.sleep(1)
    return fail(f"{len(seen)} of {count} workers connected after {TIMEOUT_S:.0f} s")


def run(url: str, runs_dir: Path, users: int, seconds: int) -> int:
    client = session(url)
    before = {p.name for p in runs_dir.iterdir()} if runs_dir.is_dir() else set()
    answer = client.post(
        f"{url}/swarm",
        data={"user_count": users, "spawn_rate": users, "run_time": f"{seconds}s"},
        timeout=20,
    ).json()
    if not answer.get("success"):
        return fail(f"the master refused the test: {answer}")
    deadline = time.monotonic() + seconds + TIMEOUT_S
    running: set[str] = set()
    while time.monotonic() < deadline:
        for worker in workers(client, url):
            if worker.get("state") == "running":
                running.add(worker["id"])
        new = sorted({p.name for p in runs_dir.iterdir()} - before)
        if new:
            try:
                meta = json.loads((runs_dir / new[-1] / "meta.json").read_text())
            except (OSError, ValueError):
                meta = {}
            if meta.get("status") not in (None, "running"):
                log(f"run {new[-1]}: {meta['status']}; workers seen running: {len(running)}")
                print(new[-1])
                return 0
        time.sleep(1)
    return fail("the test did not finish in time")


def verify(run_dir: Path, remote_ids: list[str], wait_s: float = 60.0) -> int:
    """The checks, again every 5 s for `wait_s` while only spans are missing (the archive
    writes its parts every LAB_ARCHIVE_FLUSH_SECONDS)."""
    deadline = time.monotonic() + wait_s
    while True:
        problems = check_run(run_dir, remote_ids)
        if not problems:
            log(f"PASS: every worker's record and spans are in {run_dir}")
            return 0
        if time.monotonic() > deadline or any("spans" not in p for p in problems):
            return fail("; ".join(problems))
        log(f"waiting for the archive: {'; '.join(problems)}")
        time.sleep(5)


def check_run(run_dir: Path, remote_ids: list[str]) -> list[str]:
    folder = RunFolder(run_dir)
    events = [json.loads(line) for line in folder.events.read_text().splitlines() if line]
    kinds = [e["kind"] for e in events]
    doubts = sorted(set(kinds) & (UNTRUSTWORTHY_EVENTS | {"untrustworthy"}))
    finished = [e["detail"] for e in events if e["kind"] == "run_finished"]
    if not finished:
        return [f"no run_finished in {folder.events}"]
    requests_, rows = finished[-1]["requests"], finished[-1]["record_rows"]
    by_worker: dict[str, int] = {}
    for part in folder.request_parts():
        by_worker[part.parent.name] = (
            by_worker.get(part.parent.name, 0) + pq.read_metadata(part).num_rows
        )
    log(f"record: {rows} rows, Locust counted {requests_}; rows by worker: {by_worker}")
    # A remote worker's Locust id is `<container hostname>_<uuid>`: its hostname is its id.
    remote_folders = {w for w in by_worker if any(w.startswith(f"{r}_") for r in remote_ids)}
    # The archive keeps span attributes, not the resource's worker id: a worker's spans are
    # those of the traces its own record rows name.
    if not folder.span_parts():
        return ["no spans in the run's folder yet"]
    spans = pq.read_table(folder.spans, columns=["service_name", "trace_id"])
    locust_traces = set(
        spans.filter(pc.equal(spans["service_name"], "locust"))["trace_id"].to_pylist()
    )
    span_workers: dict[str, int] = {}
    for part in folder.request_parts():
        traces = set(pq.read_table(part, columns=["trace_id"])["trace_id"].to_pylist())
        found = len((traces - {None}) & locust_traces)
        span_workers[part.parent.name] = span_workers.get(part.parent.name, 0) + found
    log(f"spans: {spans.num_rows} in the run's folder; traced requests by worker: {span_workers}")
    problems = []
    if doubts:
        problems.append(f"untrustworthy events: {doubts}")
    if rows != requests_ or rows == 0:
        problems.append(f"record rows {rows} != Locust's {requests_}")
    if len(remote_folders) != len(remote_ids):
        problems.append(f"records of {len(remote_folders)} of {len(remote_ids)} remote workers")
    if len(by_worker) <= len(remote_ids):
        problems.append("no record of the lab's own (shared-folder) worker")
    missing_spans = [w for w in by_worker if not span_workers.get(w)]
    if missing_spans:
        problems.append(f"no Locust spans of workers {missing_spans}")
    return problems


def main(argv: list[str]) -> int:
    step = argv[0]
    if step == "wait-workers":
        return wait_workers(argv[1], int(argv[2]))
    if step == "run":
        return run(argv[1], Path(argv[2]), int(argv[3]), int(argv[4]))
    if step == "verify":
        return verify(Path(argv[1]), argv[2].split(","))
    return fail(f"unknown step {step}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
