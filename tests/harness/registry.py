"""PID records of harness runs (`.lab-test/run-<pid>.json`) and cleanup of killed runs.

A run whose harness process is gone (killed with SIGKILL, machine reset) may
leave daemons holding ports and a temp folder behind. The next run removes
them, touching only processes whose command line or working directory still
points into that run's own temp folder, and never a run that is still alive
(several people may run `make test` in one checkout at the same time).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.harness.processes import (
    pid_alive,
    process_points_into,
    process_start_ticks,
    stop_pid,
)
from tests.harness.services import RUN_DIR_PREFIX


@dataclass
class RecordedService:
    name: str
    pid: int
    stop_signal: int


@dataclass
class RunRecord:
    harness_pid: int
    harness_start_ticks: int | None
    tmpdir: str
    services: list[RecordedService] = field(default_factory=list)

    @classmethod
    def for_this_process(cls, tmpdir: Path) -> RunRecord:
        return cls(os.getpid(), process_start_ticks(os.getpid()), str(tmpdir))

    def is_live(self) -> bool:
        """The harness that wrote this record still runs (same PID *and* same start time)."""
        return (
            pid_alive(self.harness_pid)
            and process_start_ticks(self.harness_pid) == self.harness_start_ticks
        )


class RunRegistry:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, harness_pid: int) -> Path:
        return self.directory / f"run-{harness_pid}.json"

    def save(self, record: RunRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_for(record.harness_pid)
        partial = target.with_suffix(".json.tmp")
        partial.write_text(json.dumps(asdict(record), indent=2))
        partial.replace(target)

    def remove(self, record: RunRecord) -> None:
        self.path_for(record.harness_pid).unlink(missing_ok=True)

    def records(self) -> list[tuple[Path, RunRecord | None]]:
        """Every record file with its parsed content (None when unreadable)."""
        found: list[tuple[Path, RunRecord | None]] = []
        for path in sorted(self.directory.glob("run-*.json")):
            try:
                raw = json.loads(path.read_text())
                record = RunRecord(
                    harness_pid=int(raw["harness_pid"]),
                    harness_start_ticks=raw.get("harness_start_ticks"),
                    tmpdir=str(raw["tmpdir"]),
                    services=[RecordedService(**s) for s in raw.get("services", [])],
                )
            except (OSError, ValueError, KeyError, TypeError):
                record = None
            found.append((path, record))
        return found

    def clean_stale(self) -> list[str]:
        """Stop what killed runs left behind; returns one message per action taken."""
        messages: list[str] = []
        for path, record in self.records():
            if record is None:
                messages.append(f"removed unreadable run record {path.name}")
                path.unlink(missing_ok=True)
                continue
            if record.is_live():
                continue
            messages += clean_run(record)
            path.unlink(missing_ok=True)
        return messages


def clean_run(record: RunRecord) -> list[str]:
    """Stop a dead run's daemons (only those still pointing into its temp folder) and delete it."""
    messages: list[str] = []
    tmpdir = Path(record.tmpdir)
    if not _is_harness_tmpdir(tmpdir):
        return [f"ignored run record with unexpected temp folder {tmpdir}"]
    # Recorded daemons first, with their own polite signal; then anything else still
    # running from that folder (e.g. a Prometheus a test started).
    for service in record.services:
        if pid_alive(service.pid) and process_points_into(service.pid, tmpdir):
            stopped = stop_pid(service.pid, service.stop_signal)
            state = "stopped" if stopped else "could NOT stop"
            messages.append(f"{state} leftover {service.name} (pid {service.pid}) from {tmpdir}")
    for pid in processes_inside(tmpdir):
        stopped = stop_pid(pid, signal.SIGTERM, timeout=5)
        state = "stopped" if stopped else "could NOT stop"
        messages.append(f"{state} leftover process {pid} from {tmpdir}")
    if tmpdir.exists():
        shutil.rmtree(tmpdir, ignore_errors=True)
        messages.append(f"removed leftover temp folder {tmpdir}")
    return messages


def processes_inside(directory: Path) -> list[int]:
    """PIDs (other than ours) whose command line or working directory points into `directory`."""
    me = os.getpid()
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != me:
            pid = int(entry.name)
            if pid_alive(pid) and process_points_into(pid, directory):
                pids.append(pid)
    return pids


def _is_harness_tmpdir(path: Path) -> bool:
    # A guard before rmtree and kill: the folder must look like one make_run_dir() made.
    return path.is_absolute() and path.name.startswith(RUN_DIR_PREFIX) and len(path.parts) >= 3


def report(messages: list[str]) -> None:
    for message in messages:
        print(f"[harness] {message}", file=sys.stderr, flush=True)
