"""Is the run trustworthy, and how did it end? Both from what the run left behind.

The status of a run follows from its events.jsonl (written by the Locust master):

- `completed`: `run_finished` was written and the load ran its planned duration (within
  `lab.contract.duration_tolerance_s`), or a stress run stopped at its breaking point, or a
  web UI run without a run time was stopped by the user;
- `interrupted`: `lab run` was stopped (Ctrl-C, SIGINT, SIGTERM) or the UI's stop button was
  pressed before the plan ran out;
- `failed_to_start`: the load never started (no `load_started` event);
- `aborted`: anything else: the master or Compose died (no `run_finished`), or the run
  ended short on its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lab.contract import (
    STATUS_ABORTED,
    STATUS_COMPLETED,
    STATUS_FAILED_TO_START,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    UNTRUSTWORTHY_EVENTS,
    RunFolder,
    duration_tolerance_s,
    read_events,
)

_STATUS_PROBLEMS = {
    STATUS_RUNNING: "run never finished (status running: crashed or still going)",
    STATUS_INTERRUPTED: "run interrupted (Ctrl-C or stop): shorter than planned",
    STATUS_ABORTED: "run aborted (the load generator or Compose died, or it ended short)",
    STATUS_FAILED_TO_START: "the load never started",
    "failed": "load generator failed to run",  # meta.json of runs made before the statuses
}


def status_from_events(events_file: Path, *, interrupted: bool) -> str:
    """The run's status from its events (see the module docstring for the rules)."""
    events, _bad = read_events(events_file)
    kinds = {str(e["kind"]) for e in events}
    finished = [e for e in events if e["kind"] == "run_finished"]
    if "load_started" not in kinds:
        return STATUS_INTERRUPTED if interrupted else STATUS_FAILED_TO_START
    if finished:
        detail = finished[-1].get("detail") or {}
        planned, ran = detail.get("planned_s"), detail.get("ran_s")
        if "breaking_point" in kinds or planned is None:
            return STATUS_COMPLETED
        if isinstance(ran, int | float) and ran >= planned - duration_tolerance_s(planned):
            return STATUS_COMPLETED
    return STATUS_INTERRUPTED if interrupted else STATUS_ABORTED


@dataclass
class Health:
    status: str  # meta status (lab.contract.STATUSES), or "missing"
    partial_reasons: list[str] = field(default_factory=list)
    event_counts: Counter[str] = field(default_factory=Counter)
    event_examples: dict[str, str] = field(default_factory=dict)
    bad_event_lines: int = 0
    locust_exit_code: int | None = None
    lost_workers: list[str] = field(default_factory=list)  # one line per lost worker
    off_plan: list[str] = field(default_factory=list)  # one line per off-plan window

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)

    @property
    def untrustworthy_reasons(self) -> list[str]:
        detailed = {"worker_lost", "load_off_plan"}  # one line each, below
        reasons = [
            f"{self.event_counts[kind]} x {kind}"
            for kind in sorted((UNTRUSTWORTHY_EVENTS | {"untrustworthy"}) - detailed)
            if self.event_counts[kind]
        ]
        return reasons + self.lost_workers + self.off_plan

    @property
    def trustworthy(self) -> bool:
        return not self.untrustworthy_reasons and not self.partial


def _rows_by_worker(folder: RunFolder) -> dict[str, int]:
    rows: dict[str, int] = {}
    for part in folder.request_parts():
        try:
            count = pq.ParquetFile(part).metadata.num_rows
        except Exception:  # noqa: S112 - a damaged part is reported by `lab report`
            continue
        rows[part.parent.name] = rows.get(part.parent.name, 0) + count
    return rows


def _lost_worker_lines(events: list[dict[str, Any]], folder: RunFolder) -> list[str]:
    """'worker W lost at T: reported N requests, M recorded, N-M not recorded'."""
    lost = [e for e in events if e["kind"] == "worker_lost"]
    if not lost:
        return []
    recorded = _rows_by_worker(folder)
    lines = []
    for event in lost:
        detail = event.get("detail")
        detail = detail if isinstance(detail, dict) else {}  # a torn or foreign line
        worker = str(detail.get("worker", "?"))
        reported = detail.get("reported_requests")
        line = f"worker {worker} lost at {event.get('ts', '?')}"
        if isinstance(reported, int):
            rows = recorded.get(worker, 0)
            line += (
                f": it reported {reported} requests, {rows} are in the record, "
                f"{max(0, reported - rows)} reported but not recorded"
            )
        lines.append(line)
    return lines


def _off_plan_lines(events: list[dict[str, Any]]) -> list[str]:
    lines = []
    for event in events:
        if event["kind"] != "load_off_plan":
            continue
        d = event.get("detail")
        d = d if isinstance(d, dict) else {}
        lines.append(
            f"load {d.get('direction', '?')} plan: {d.get('users')} users instead of "
            f"{d.get('planned_users')} from {d.get('from')} to {d.get('to')} "
            f"({d.get('seconds')} s)"
        )
    return lines


def assess(run_dir: Path, meta: dict[str, Any] | None, request_parts: int) -> Health:
    status = str(meta.get("status", "unknown")) if meta else "missing"
    health = Health(status=status)
    if meta is None:
        health.partial_reasons.append("meta.json missing or unreadable")
    elif status != STATUS_COMPLETED:
        health.partial_reasons.append(_STATUS_PROBLEMS.get(status, f"status {status!r}"))
    if request_parts == 0:
        health.partial_reasons.append("no per-request records")
    if meta is not None and isinstance(meta.get("locust_exit_code"), int):
        health.locust_exit_code = meta["locust_exit_code"]
    folder = RunFolder(run_dir)
    events, health.bad_event_lines = read_events(folder.events)
    for event in events:
        kind = str(event["kind"])
        health.event_counts[kind] += 1
        health.event_examples.setdefault(kind, str(event.get("detail", ""))[:200])
    health.lost_workers = _lost_worker_lines(events, folder)
    health.off_plan = _off_plan_lines(events)
    return health
