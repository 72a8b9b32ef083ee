"""Generator honesty: a Locust process whose CPU stays high measures itself, not the app.

Locust reads each process's CPU every `locust.runners.CPU_MONITOR_INTERVAL` seconds
(`psutil.Process.cpu_percent` over the interval; the first reading is a meaningless 0) into
`runner.current_cpu_usage`, and each worker sends its reading to the master with every
heartbeat (`WorkerNode.cpu_usage`); Locust warns once when a reading passes 90 %. The lab
asks more: a process above `generator_cpu_max_pct` (80 %, k6's guidance for its own
generators) for `generator_cpu_sustained_s` (20 s) is saturated, and the run is
untrustworthy (`generator_saturated` in events.jsonl; lab.contract.UNTRUSTWORTHY_EVENTS).

Locust 2.47 reads every 10 s; the plugin sets `CPU_READING_S` (5 s) before Locust makes its
runner, so 20 s is four readings (one busy moment is not saturation) and the first real
reading comes 10 s into a run, not 20 s. Locust's own 90 % warning reads the same values.

A reading covers the interval before it, so a process is "above since" the moment its first
high reading was seen minus one interval; it is judged by the master's health poll (every
second), so "sustained" is measured to within that poll and the heartbeat's second.

No `locust` import here: plain code, tested in-process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CPU_READING_S = 5.0  # set as locust.runners.CPU_MONITOR_INTERVAL by the plugin


@dataclass(frozen=True)
class Saturation:
    process: str  # worker id, "master" or "local"
    above_s: float  # seconds above the threshold so far
    peak_pct: float
    threshold_pct: float
    sustained_s: float

    def detail(self) -> dict[str, Any]:
        return {
            "worker": self.process,
            "cpu_peak_pct": round(self.peak_pct, 1),
            "above_s": round(self.above_s, 1),
            "threshold_pct": self.threshold_pct,
            "sustained_s": self.sustained_s,
        }

    def message(self) -> str:
        return (
            f"load generator {self.process} above {self.threshold_pct:.0f} % CPU for "
            f"{self.above_s:.0f} s (peak {self.peak_pct:.0f} %)"
        )


class CpuSaturation:
    """Per process: how long its CPU readings have stayed above the threshold."""

    def __init__(self, max_pct: float, sustained_s: float, reading_interval_s: float) -> None:
        self.max_pct = max_pct
        self.sustained_s = sustained_s
        self.reading_interval_s = reading_interval_s
        self._above_since: dict[str, float] = {}
        self._peak: dict[str, float] = {}
        self.flagged: set[str] = set()  # once per process and run
        self.highest: dict[str, float] = {}  # each process's highest reading during the load

    def observe(self, process: str, cpu_pct: float | None, now: float) -> Saturation | None:
        """The saturation of `process`, the first time its readings qualify; else None."""
        if cpu_pct is not None:
            self.highest[process] = max(self.highest.get(process, 0.0), round(cpu_pct, 1))
        if cpu_pct is None or cpu_pct <= self.max_pct:
            self._above_since.pop(process, None)
            self._peak.pop(process, None)
            return None
        since = self._above_since.setdefault(process, now - self.reading_interval_s)
        peak = self._peak[process] = max(self._peak.get(process, 0.0), cpu_pct)
        above_s = now - since
        if process in self.flagged or above_s < self.sustained_s:
            return None
        self.flagged.add(process)
        return Saturation(process, above_s, peak, self.max_pct, self.sustained_s)
