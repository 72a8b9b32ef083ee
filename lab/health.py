"""Is the run trustworthy, and how did it end? Both from what the run left behind.

The status of a run follows from its events.jsonl (written by the Locust master):

- `completed`: `run_finished` was written and the load ran its planned duration (within
  `lab.contract.duration_tolerance_s`), or a stress run stopped at its breaking point, or a
  web UI run without a run time was stopped by the user;
- `interrupted`: `lab run` was stopped (Ctrl-C, SIGINT, SIGTERM) or the UI's stop button was
  pressed before the plan ran out;
- `failed_to_start`: the load never started (no `load_started` event);
- `aborted`: the master stopped it on purpose (a `run_aborted` event: `--abort-on-breach`
  saw a target breached window after window; its reason is kept), or anything else: the
  master or Compose died (no `run_finished`), or the run ended short on its own.

An abort on breach is a verdict, not missing evidence: the report calls such a run FAIL
(exit 1) with the abort's reason, where any other status but `completed` is PARTIAL.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from lab.contract import (
    ABORT_REASON_BREACH,
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
    if "run_aborted" in kinds:  # the master stopped it (and a later Ctrl-C changes nothing)
        return STATUS_ABORTED
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
    saturated: list[str] = field(default_factory=list)  # one line per saturated generator
    aborted_on_breach: str | None = None  # the abort's reason, when --abort-on-breach fired

    @property
    def partial(self) -> bool:
        return bool(self.partial_reasons)

    @property
    def untrustworthy_reasons(self) -> list[str]:
        detailed = {"worker_lost", "load_off_plan", "generator_saturated"}  # one line each
        reasons = [
            f"{self.event_counts[kind]} x {kind}"
            for kind in sorted((UNTRUSTWORTHY_EVENTS | {"untrustworthy"}) - detailed)
            if self.event_counts[kind]
        ]
        return reasons + self.lost_workers + self.off_plan + self.saturated

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


def _details(events: list[dict[str, Any]], kind: str) -> list[tuple[dict[str, Any], Any]]:
    """(detail, ts) of each event of `kind`; a torn or foreign detail reads as empty."""
    found = []
    for event in events:
        if event["kind"] == kind:
            detail = event.get("detail")
            found.append((detail if isinstance(detail, dict) else {}, event.get("ts", "?")))
    return found


def _off_plan_lines(events: list[dict[str, Any]]) -> list[str]:
    return [
        f"load {d.get('direction', '?')} plan: {d.get('users')} users instead of "
        f"{d.get('planned_users')} from {d.get('from')} to {d.get('to')} "
        f"({d.get('seconds')} s)"
        for d, _ts in _details(events, "load_off_plan")
    ]


def _saturated_lines(events: list[dict[str, Any]]) -> list[str]:
    return [
        f"load generator {d.get('worker', '?')} above {d.get('threshold_pct', '?')} % CPU "
        f"for {d.get('above_s', '?')} s (peak {d.get('cpu_peak_pct', '?')} %) from "
        f"{ts}: its timings may be its own"
        for d, ts in _details(events, "generator_saturated")
    ]


def breach_abort(events: list[dict[str, Any]]) -> str | None:
    """The reason of an abort on breach (`run_aborted`, reason breach), or None."""
    for event in events:
        detail = event.get("detail")
        if (
            event["kind"] == "run_aborted"
            and isinstance(detail, dict)
            and detail.get("reason") == ABORT_REASON_BREACH
        ):
            return str(detail.get("message") or "a target was breached")
    return None


def assess(run_dir: Path, meta: dict[str, Any] | None, request_parts: int) -> Health:
    status = str(meta.get("status", "unknown")) if meta else "missing"
    health = Health(status=status)
    folder = RunFolder(run_dir)
    events, health.bad_event_lines = read_events(folder.events)
    if status == STATUS_ABORTED:
        health.aborted_on_breach = breach_abort(events)
    if meta is None:
        health.partial_reasons.append("meta.json missing or unreadable")
    elif status != STATUS_COMPLETED and health.aborted_on_breach is None:
        health.partial_reasons.append(_STATUS_PROBLEMS.get(status, f"status {status!r}"))
    if request_parts == 0:
        health.partial_reasons.append("no per-request records")
    if meta is not None and isinstance(meta.get("locust_exit_code"), int):
        health.locust_exit_code = meta["locust_exit_code"]
    for event in events:
        kind = str(event["kind"])
        health.event_counts[kind] += 1
        health.event_examples.setdefault(kind, str(event.get("detail", ""))[:200])
    health.lost_workers = _lost_worker_lines(events, folder)
    health.off_plan = _off_plan_lines(events)
    health.saturated = _saturated_lines(events)
    return health
