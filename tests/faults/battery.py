"""`make faults`: infrastructure faults injected into real load runs of the Compose lab.

Run by tests/faults/run.sh once the lab is up (its own project, free ports, offline images).
One load run carries the infrastructure faults one after the other, with a quiet stretch
between them; a second short run is interrupted as Ctrl-C would. Every fault has an expected
outcome, checked against what the run left behind (the per-request record, events.jsonl,
report.json) and what Docker says (restart counts, start times):

  postgres restart    requests fail fast (503 "database unavailable", never a hang) or wait
                      out the restart in PgBouncer; the app serves again within 10 s of the
                      database being back, without a restart of its own; no failures after
  pgbouncer restart   the same
  redis stop (20 s)   nobody signed out, no failure, nothing slow; serves again by itself
  trace archive crash load goes on without a failure, Compose restarts the archive, the report
                      counts the spans lost and marks its trace sections partial (or counts 0)
  locust worker kill  the run goes on to its planned end with the survivor: worker_lost
                      written, the run untrustworthy (exit 3), survivors' records complete
  Ctrl-C of lab run   status interrupted, records kept, report written, the lab's own
                      Locust master and workers back as lab-up left them

It prints one table (fault, expected, observed, records vs reported, spans dropped, recovery
seconds) and exits 1 when any expectation fails. Times are wall-clock seconds measured here.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lab.contract import (
    DEFAULT_RUNS_DIR,
    RUN_ID_PATTERN,
    RunFolder,
    event_line,
    read_events,
    run_folder,
)
from lab.run_events import FAULT_WINDOW

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS = REPO_ROOT / DEFAULT_RUNS_DIR  # `lab run --compose` writes there
STACK = ["bash", str(REPO_ROOT / "scripts" / "lab-stack.sh")]
PY = sys.executable

RECOVERY_LIMIT_S = 10.0  # the app serves again within this of its dependency being back
FAST_FAILURE_S = 5.0  # a failed request that took longer waited on the outage: not "fast"
SETTLE_S = 12.0  # quiet stretch after a recovery, where no failure may happen
REDIS_OUTAGE_S = 20.0
DEPENDENCY_BACK_TIMEOUT_S = 90.0
# `lab run` prints "run <id>: …" first; the id as lab/contract.py spells it.
RUN_ID = re.compile(rf"^run ({RUN_ID_PATTERN.pattern.strip('^$')}): ", re.M)


def log(message: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Docker -----------------------------------------------------------------------------------


def compose(*args: str, check: bool = True) -> str:
    done = subprocess.run(
        [*STACK, "compose", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"docker compose {' '.join(args)}: {done.stderr.strip()[-400:]}")
    return done.stdout


_containers: dict[tuple[str, int], str] = {}


def container(service: str, index: int = 1) -> str:
    """The container id of a service (kept: restart, stop and start keep the container)."""
    key = (service, index)
    if key not in _containers:
        _containers[key] = _find_container(service, index)
    return _containers[key]


def _find_container(service: str, index: int) -> str:
    ids = compose("ps", "-q", service).split()
    if not ids:
        raise RuntimeError(f"no running container for {service}")
    names = {cid: docker("inspect", "-f", "{{.Name}}", cid).strip().lstrip("/") for cid in ids}
    wanted = [cid for cid, name in names.items() if name.endswith(f"-{index}")]
    return (wanted or ids)[0]


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")
    return done.stdout


def state(cid: str) -> dict[str, Any]:
    return json.loads(docker("inspect", "-f", "{{json .}}", cid))


def healthcheck_passes(cid: str) -> bool:
    """Run the container's own healthcheck command inside it, now (not on Docker's 2 s tick)."""
    info = state(cid)
    if not info["State"]["Running"]:
        return False
    test = info["Config"]["Healthcheck"]["Test"]
    argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    done = subprocess.run(
        ["docker", "exec", cid, *argv], capture_output=True, timeout=10, check=False
    )
    return done.returncode == 0


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, what: str, *, at_start: bool = False
) -> float:
    """Poll `predicate` every 0.2 s; the wall time it first held: the end of that check, or
    its start with `at_start`. Recovery = app back (end) - dependency back (start): a slow
    check on a busy machine can only make the recovery look longer, never shorter."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        began = time.time()
        try:
            if predicate():
                return began if at_start else time.time()
        except (RuntimeError, subprocess.TimeoutExpired, OSError, KeyError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")


# --- the app from outside -----------------------------------------------------------------------


def app_url() -> str:
    return f"http://127.0.0.1:{os.environ['LAB_APP_PORT']}"


def app_healthy() -> bool:
    try:
        with urllib.request.urlopen(app_url() + "/healthz", timeout=3) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def app_spans_dropped() -> int:
    """jewelry_spans_dropped_total of the app now (all gunicorn workers, every reason)."""
    with urllib.request.urlopen(app_url() + "/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("jewelry_spans_dropped_total")
        )
    )


# --- a run --------------------------------------------------------------------------------------


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    log_path: Path
    run_id: str = ""

    @property
    def folder(self) -> RunFolder:
        return run_folder(RUNS, self.run_id)

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.folder.events).events

    def event(self, kind: str) -> dict[str, Any] | None:
        found = [e for e in self.events() if e.get("kind") == kind]
        return found[-1].get("detail", {}) if found else None

    def add_fault_window(self, fault: str, started_at: float, ended_at: float) -> None:
        # One line, one write, O_APPEND: the master appends to the same file the same way.
        line = event_line(
            FAULT_WINDOW,
            {"fault": fault, "started_at": started_at, "ended_at": ended_at},
            at=datetime.fromtimestamp(ended_at, UTC),
        )
        with self.folder.events.open("a") as handle:
            handle.write(line + "\n")

    def record(self) -> pa.Table:
        parts = self.folder.request_parts()
        return pa.concat_tables(pq.read_table(p) for p in parts) if parts else pa.table({})

    def users_now(self) -> int:
        path = self.folder.locust_history_csv
        try:
            rows = [r for r in path.read_text().splitlines()[1:] if ",Aggregated," in r]
        except OSError:
            return 0
        if not rows:
            return 0
        header = path.read_text().splitlines()[0].split(",")
        return int(float(rows[-1].split(",")[header.index("User Count")]))

    def planned_end(self, duration_s: int) -> float:
        """When the run's load is planned to stop: its `load_started` event + the duration."""
        started = next(
            (e.get("ts") for e in self.events() if e.get("kind") == "load_started"), None
        )
        if not started:
            return time.time() + duration_s
        return datetime.fromisoformat(started).timestamp() + duration_s

    def meta(self) -> dict[str, Any]:
        return json.loads(self.folder.meta.read_text())

    def report(self) -> dict[str, Any]:
        return json.loads(self.folder.report_json.read_text())


def start_run(users: int, duration_s: int, prometheus: str, name: str) -> Run:
    log_path = REPO_ROOT / "build" / f"faults-{name}.log"
    log_path.parent.mkdir(exist_ok=True)
    handle = log_path.open("wb")
    command = [PY, "-m", "lab", "run", "--compose", "--profile", "load"]
    command += ["--users", str(users), "--spawn-rate", str(users)]
    command += ["--duration", f"{duration_s}s", "--workers", "2", "--scale", "small"]
    command += ["--trace-sample-ratio", "1", "--prometheus", prometheus]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    run = Run(process, log_path)

    def has_id() -> bool:
        match = RUN_ID.search(log_path.read_text(errors="replace"))
        if match:
            run.run_id = match.group(1)
        if process.poll() is not None and not match:
            raise SystemExit(f"lab run exited {process.returncode} early: {log_path}")
        return bool(match)

    wait_until(has_id, 120, "lab run to print its run id")
    log(f"run {run.run_id} started ({users} users, {duration_s} s): {log_path}")
    wait_until(lambda: run.users_now() >= users, 180, f"{users} users running")
    log(f"run {run.run_id}: {users} users running")
    return run


def finish(run: Run, timeout_s: float) -> int:
    try:
        return run.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(run.process.pid, signal.SIGTERM)  # our own `lab run`, by its process group
        return run.process.wait(timeout=120)


# --- results ------------------------------------------------------------------------------------


@dataclass
class Row:
    fault: str
    expected: str
    observed: str = ""
    records: str = ""
    spans_dropped: str = "-"
    recovery_s: float | None = None
    problems: list[str] = field(default_factory=list)

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Window:
    """One injected fault, in wall-clock seconds."""

    fault: str
    started_at: float
    back_at: float  # the dependency answered its own healthcheck again
    app_ok_at: float  # the app's /healthz answered 200 again
    app_restarts: int  # restarts of the app container during the fault (expected 0)

    @property
    def recovery_s(self) -> float:
        return max(0.0, self.app_ok_at - self.back_at)


def _rows(record: pa.Table) -> list[dict[str, Any]]:
    return record.select(["ts_start_us", "response_time_us", "failure", "name"]).to_pylist()


def overlapping(record: pa.Table, start: float, end: float) -> list[dict[str, Any]]:
    """Requests in flight at any moment of [start, end]: begun before the fault and caught by
    it, begun during it, or begun during it and held until long after (a hang shows here)."""
    return [
        r
        for r in _rows(record)
        if r["ts_start_us"] <= end * 1e6 and r["ts_start_us"] + r["response_time_us"] >= start * 1e6
    ]


def started_and_ended_between(record: pa.Table, start: float, end: float) -> list[dict[str, Any]]:
    return [
        r
        for r in _rows(record)
        if r["ts_start_us"] >= start * 1e6 and r["ts_start_us"] + r["response_time_us"] < end * 1e6
    ]


def outside_faults(record: pa.Table, windows: list[Window]) -> list[dict[str, Any]]:
    """Successful requests (sign-ins aside: Argon2) that met no fault: the run's own pace,
    which a failure must not exceed by more than FAST_FAILURE_S to count as fast. Relative,
    so a busy machine does not turn every failure into a slow one."""
    spans = [(w.started_at * 1e6, (w.app_ok_at + 2) * 1e6) for w in windows]
    return [
        r
        for r in _rows(record)
        if r["failure"] is None
        and "login" not in r["name"]
        and "token" not in r["name"]
        and not any(
            a <= r["ts_start_us"] + r["response_time_us"] and r["ts_start_us"] <= b
            for a, b in spans
        )
    ]


def p95_s(rows: list[dict[str, Any]]) -> float:
    times = sorted(r["response_time_us"] / 1e6 for r in rows)
    return times[min(len(times) - 1, int(0.95 * len(times)))] if times else 0.0


def reasons(rows: list[dict[str, Any]]) -> collections.Counter[str]:
    return collections.Counter((r["failure"] or "")[:70] for r in rows if r["failure"] is not None)


# --- the faults ---------------------------------------------------------------------------------


def app_fingerprint() -> tuple[str, int]:
    info = state(container("app"))
    return info["State"]["StartedAt"], int(info["RestartCount"])


def dependency_fault(run: Run, fault: str, service: str, inject: Callable[[str], None]) -> Window:
    cid = container(service)
    app_before = app_fingerprint()
    started = time.time()
    log(f"{fault}: injecting")
    inject(cid)
    cid = container(service)  # the same container: restart/stop/start keep it
    back = wait_until(
        lambda: healthcheck_passes(cid), DEPENDENCY_BACK_TIMEOUT_S, f"{service} back", at_start=True
    )
    app_ok = wait_until(app_healthy, 60, "the app's /healthz 200")
    app_after = app_fingerprint()
    restarts = 0 if app_after == app_before else 1
    run.add_fault_window(fault, started, back)
    log(f"{fault}: {service} back after {back - started:.1f} s, app ok {app_ok - back:.1f} s later")
    return Window(fault, started, back, app_ok, restarts)


def restart(cid: str) -> None:
    docker("restart", "-t", "10", cid)


def stop_for(seconds: float) -> Callable[[str], None]:
    def inject(cid: str) -> None:
        docker("stop", "-t", "10", cid)
        time.sleep(seconds)  # the fault's planned length, not a wait for a condition
        docker("start", cid)

    return inject


def crash(cid: str) -> None:
    """SIGKILL of the container's first process, from the host: Docker sees a crash, so the
    restart policy applies (`docker kill` counts as a manual stop and would not restart it)."""
    pid = int(state(cid)["State"]["Pid"])
    os.kill(pid, signal.SIGKILL)  # a process of this battery's own Compose project


def waited_in_outage_s(row: dict[str, Any], window: Window) -> float:
    """How long a request spent inside the outage: from the later of its start and the fault's
    to its end (a sign-in that was hashing for 15 s when the fault began did not wait on it)."""
    end = (row["ts_start_us"] + row["response_time_us"]) / 1e6
    return end - max(row["ts_start_us"] / 1e6, window.started_at)


def check_database_fault(
    row: Row, window: Window, during: list, after: list, slow_s: float
) -> None:
    failed = [r for r in during if r["failure"] is not None]
    slow = [r for r in failed if waited_in_outage_s(r, window) > slow_s]
    why = reasons(during)
    foreign = [k for k in why if "database unavailable" not in k]
    late = [r for r in after if r["failure"]]
    row.observed = (
        f"{len(during)} requests met the outage, {len(failed)} failed "
        f"({', '.join(f'{n}x {k}' for k, n in why.most_common(2)) or 'none'}); "
        f"{len(slow)} failures waited > {slow_s:.1f} s in it; {len(late)} failures after"
    )
    row.recovery_s = window.recovery_s
    row.check(not slow, f"{len(slow)} failures waited > {slow_s:.1f} s in the outage (not fast)")
    row.check(not foreign, f"failures without the 'database unavailable' reason: {foreign[:3]}")
    row.check(window.recovery_s <= RECOVERY_LIMIT_S, f"recovery {window.recovery_s:.1f} s > 10 s")
    row.check(window.app_restarts == 0, "the app container restarted")
    row.check(not late, f"{len(late)} failures after the recovery: {dict(reasons(after))}")


INFRASTRUCTURE_FAULTS: list[tuple[str, str, Callable[[str], None]]] = [
    ("postgres restart", "postgres", lambda cid: restart(cid)),
    ("pgbouncer restart", "pgbouncer", lambda cid: restart(cid)),
    ("redis stop 20 s", "redis", lambda cid: stop_for(REDIS_OUTAGE_S)(cid)),
    ("trace archive crash", "trace-archive", lambda cid: crash(cid)),
]
EXPECTED = {
    "postgres": "fast 503s with their reason (or none); serves again <= 10 s after; no restart",
    "pgbouncer": "fast 503s with their reason (or none); serves again <= 10 s after; no restart",
    "redis": "nobody signed out, no failure, nothing slow; recovers by itself",
    "trace": "load goes on; Compose restarts it; spans lost counted, traces marked partial",
    "ctrl-c": "status interrupted, records kept, report written, lab's Locust UI back",
    "worker": "run goes on to its planned end; worker_lost; untrustworthy (exit 3); "
    "survivors' records complete",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--duration", type=int, default=360, help="seconds of the fault run")
    args = parser.parse_args(argv)
    rows: list[Row] = []

    # --- run 1: the infrastructure faults one after another, then a Locust worker's death -----
    spans_before = app_spans_dropped()
    for service in ("postgres", "pgbouncer", "redis", "trace-archive", "app"):
        container(service)  # looked up once, before the load: docker is slow on a busy machine
    run = start_run(args.users, args.duration, args.prometheus, "infrastructure")
    planned_end = run.planned_end(args.duration)
    time.sleep(SETTLE_S)  # plain load first: the baseline the outage is compared with
    windows: list[Window] = []
    archive_restarted = False
    for fault, service, inject in INFRASTRUCTURE_FAULTS:
        if run.process.poll() is not None or time.time() > planned_end - 60:
            rows.append(
                Row(
                    fault,
                    EXPECTED[service.split("-")[0]],
                    problems=["not injected: the run was (nearly) over; raise --duration"],
                )
            )
            continue
        before = int(state(container("trace-archive"))["RestartCount"])
        windows.append(dependency_fault(run, fault, service, inject))
        if service == "trace-archive":
            archive_restarted = int(state(container("trace-archive"))["RestartCount"]) > before
        time.sleep(SETTLE_S)
    killed_at: float | None = None
    if run.process.poll() is None and time.time() < planned_end - 30:
        killed_at = time.time()
        docker("kill", "-s", "KILL", container("locust-worker", 2))  # the survivor carries on
        run.add_fault_window("locust worker killed", killed_at, killed_at + 1)
        log(f"locust worker 2 killed, {planned_end - killed_at:.0f} s before the planned end")
    code = finish(run, args.duration + 300)
    log(f"run {run.run_id} ended: exit {code}")

    record = run.record()
    finished = run.event("run_finished") or {}
    report = run.report()
    reported = int(finished.get("requests", -1))
    records = f"{record.num_rows} / {reported}"
    loss = report.get("trace_loss") or {}
    dropped_locust = int(loss.get("locust_spans_dropped") or 0)
    dropped_app = app_spans_dropped() - spans_before
    baseline = outside_faults(record, windows)
    slow_s = FAST_FAILURE_S + p95_s(baseline)
    log(f"outside the faults: {len(baseline)} requests, p95 {p95_s(baseline):.2f} s")
    ends = [w.started_at for w in windows[1:]] + [killed_at or time.time()]

    for window, next_start in zip(windows, ends, strict=True):
        during = overlapping(record, window.started_at, window.app_ok_at)
        after = started_and_ended_between(record, window.app_ok_at + 2, next_start)
        kind = window.fault.split(" ")[0]
        row = Row(window.fault, EXPECTED[kind], records=records)
        if kind in ("postgres", "pgbouncer"):
            check_database_fault(row, window, during, after, slow_s)
        elif kind == "redis":
            failed = [r for r in during if r["failure"] is not None]
            slow = [r for r in during if waited_in_outage_s(r, window) > slow_s]
            signed_out = [r for r in failed if (r["failure"] or "").startswith("SignedOut")]
            row.observed = (
                f"{len(during)} requests met the outage, {len(failed)} failed, "
                f"{len(signed_out)} signed out, {len(slow)} waited > {slow_s:.1f} s in it"
            )
            row.recovery_s = window.recovery_s
            row.check(not failed, f"{len(failed)} failures: {dict(reasons(during))}")
            row.check(not slow, f"{len(slow)} requests waited > {slow_s:.1f} s in the outage")
            row.check(window.recovery_s <= RECOVERY_LIMIT_S, "recovery > 10 s")
            row.check(window.app_restarts == 0, "the app container restarted")
            row.check(not [r for r in after if r["failure"]], "failures after the recovery")
        else:
            failed = [r for r in during if r["failure"] is not None]
            row.recovery_s = window.back_at - window.started_at  # crash to healthy again
            counted = dropped_locust + max(0, dropped_app) + int(loss.get("traces_missing") or 0)
            row.observed = (
                f"{len(during)} requests while it was down, {len(failed)} failed; "
                f"restarted by Compose: {'yes' if archive_restarted else 'no'}; report: "
                f"{loss.get('traces_missing')} of {loss.get('sampled_traces')} traces missing, "
                f"partial={loss.get('partial')}"
            )
            row.spans_dropped = f"locust {dropped_locust}, app {dropped_app}"
            row.check(len(during) > 0, "no load while the archive was down")
            row.check(not failed, f"{len(failed)} requests failed while the archive was down")
            row.check(archive_restarted, "Compose did not restart the trace archive")
            row.check(
                bool(loss.get("partial")) == (counted > 0),
                f"report partial={loss.get('partial')} but {counted} spans/traces counted lost",
            )
            row.check(
                loss.get("app_spans_dropped") in (None, dropped_app),
                f"report: the app dropped {loss.get('app_spans_dropped')}, /metrics: {dropped_app}",
            )
        rows.append(row)
    rows.append(worker_case(run, record, finished, code, killed_at))

    # --- run 2: Ctrl-C -----------------------------------------------------------------------
    try:
        rows.append(ctrl_c_case(args))
    except RuntimeError as error:  # the run never got going: a failed row, not a crash
        rows.append(Row("Ctrl-C of lab run --compose", EXPECTED["ctrl-c"], problems=[str(error)]))

    print_table(rows, run.run_id)
    return 0 if all(r.ok for r in rows) else 1


def worker_case(
    run: Run, record: pa.Table, finished: dict[str, Any], code: int, killed_at: float | None
) -> Row:
    row = Row("locust worker killed", EXPECTED["worker"])
    if killed_at is None:
        row.problems.append("not injected: the run was (nearly) over; raise --duration")
        return row
    meta = run.meta()
    lost = run.event("worker_lost")
    lost_record = run.event("lost_worker_record") or {}
    not_recorded = int(lost_record.get("not_recorded", 0))
    reported = int(finished.get("requests", -1))
    by_worker = _rows_by_worker(record)
    survivors_after = [
        r
        for r in record.select(["ts_start_us", "worker_id"]).to_pylist()
        if r["ts_start_us"] > (killed_at + 5) * 1e6 and r["worker_id"] != lost_record.get("worker")
    ]
    row.observed = (
        f"status {meta.get('status')}, exit {code}, worker_lost "
        f"{'written' if lost else 'missing'}; {len(survivors_after)} survivor requests after the "
        f"kill; ran {finished.get('ran_s')} of {finished.get('planned_s')} s"
    )
    row.records = f"{record.num_rows} / {reported} ({not_recorded} of the lost worker unrecorded)"
    row.check(lost is not None, "no worker_lost event")
    row.check(code == 3, f"exit {code}, expected 3 (untrustworthy)")
    row.check(meta.get("status") == "completed", f"status {meta.get('status')}")
    row.check(len(survivors_after) > 0, "no load after the kill: the run did not go on")
    row.check(len(by_worker) >= 2, "records of only one worker")
    # Survivors lose nothing: each one's record holds at least what it reported to the master
    # (it may hold a few more: the master stops listening 0.5 s after quit, `locust_count_short`).
    reported_by = finished.get("reported_by_worker") or {}
    short = {
        worker: (by_worker.get(worker, 0), count)
        for worker, count in reported_by.items()
        if worker != lost_record.get("worker") and by_worker.get(worker, 0) < count
    }
    row.check(bool(reported_by), "run_finished has no per-worker counts")
    row.check(not short, f"survivors' records short of their reported counts: {short}")
    return row


def _rows_by_worker(record: pa.Table) -> dict[str, int]:
    if record.num_rows == 0:
        return {}
    return dict(collections.Counter(record.column("worker_id").to_pylist()))


def ctrl_c_case(args: argparse.Namespace) -> Row:
    row = Row("Ctrl-C of lab run --compose", EXPECTED["ctrl-c"])
    run = start_run(4, 120, args.prometheus, "interrupt")
    time.sleep(10)  # some load first
    os.killpg(run.process.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
    code = finish(run, 180)
    record = run.record()
    finished = run.event("run_finished") or {}
    meta = run.meta()
    ui_back = bool(compose("ps", "-q", "--status", "running", "locust-master").strip())
    report_written = run.folder.report_html.is_file()
    row.observed = (
        f"exit {code}, status {meta.get('status')}, report "
        f"{'written' if report_written else 'missing'}, lab UI master "
        f"{'running' if ui_back else 'not running'}"
    )
    row.records = f"{record.num_rows} / {finished.get('requests', '?')}"
    row.check(code == 130, f"exit {code}, expected 130")
    row.check(meta.get("status") == "interrupted", f"status {meta.get('status')}")
    row.check(report_written, "no report.html")
    row.check(record.num_rows > 0, "no records kept")
    row.check(
        finished.get("requests") is None or int(finished["requests"]) == record.num_rows,
        "records differ from Locust's count",
    )
    row.check(ui_back, "the lab's web UI master is not running again")
    return row


def print_table(rows: list[Row], run_id: str) -> None:
    header = [
        "fault",
        "expected",
        "observed",
        "recorded / reported",
        "spans dropped",
        "recovery s",
        "",
    ]
    table = [
        [
            r.fault,
            r.expected,
            r.observed,
            r.records,
            r.spans_dropped,
            "-" if r.recovery_s is None else f"{r.recovery_s:.1f}",
            "PASS" if r.ok else "FAIL",
        ]
        for r in rows
    ]
    print(f"\nFault battery (infrastructure run {run_id}; report: runs/{run_id}/report.html)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for line in table:
        print("| " + " | ".join(cell.replace("|", "/") for cell in line) + " |")
    for r in rows:
        for problem in r.problems:
            print(f"FAIL {r.fault}: {problem}")
    print(f"\n{sum(r.ok for r in rows)} of {len(rows)} faults as expected")


if __name__ == "__main__":
    sys.exit(main())
