"""The fault windows a fault battery writes into `runs/<id>/events.jsonl`.

A fault battery (`make faults`, tests/faults/) appends one `fault_window` event per fault it
injected, after the fault is over: `{"fault": name, "started_at": unix s, "ended_at": unix s}`
(ended_at: the service was back). The report shades these windows on its over-time charts and
lists them, so an outage reads as an outage, not as the app's slowness.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.contract import RunFolder, read_events

FAULT_WINDOW = "fault_window"


@dataclass(frozen=True)
class FaultWindow:
    fault: str
    started_at: float  # unix seconds
    ended_at: float

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


def fault_windows(run_dir: Path) -> list[FaultWindow]:
    windows = []
    for event in read_events(RunFolder(run_dir).events).events:
        detail = event.get("detail")
        if event.get("kind") != FAULT_WINDOW or not isinstance(detail, dict):
            continue
        try:
            windows.append(
                FaultWindow(
                    str(detail["fault"]), float(detail["started_at"]), float(detail["ended_at"])
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(windows, key=lambda w: w.started_at)
