"""How busy the machine was during a run: load average, CPU steal, other processes' CPU.

A run on a machine shared with other jobs is slower for reasons that have nothing to do
with the code, so every run records the conditions it ran under (`machine_load` in
meta.json) and `lab compare` warns when compared runs ran under different ones. Sampled
from /proc every few seconds by a daemon thread; on a system without /proc the summary
says so instead of guessing.
"""

from __future__ import annotations

import os
import statistics
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 5.0
PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# When two compared runs differ by more than this, `lab compare` warns (documented in README).
LOAD_PER_CPU_DIFFERENCE = 0.5  # 1-minute load average divided by CPUs
STEAL_DIFFERENCE_PCT = 5.0  # percent of all CPU time stolen by the hypervisor
OTHER_CPU_DIFFERENCE_PCT = 25.0  # percent of all CPUs used by processes outside the run


def _cpu_times() -> tuple[float, float, float] | None:
    """(total, idle incl. iowait, steal) jiffies of all CPUs from /proc/stat."""
    try:
        line = (PROC / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [float(v) for v in line[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(values), values[3] + values[4], values[7] if len(values) > 7 else 0.0


def _process_tree(roots: Iterable[int]) -> set[int]:
    """`roots` and all their descendants (from /proc/<pid>/stat's parent pid)."""
    parents: dict[int, int] = {}
    for entry in PROC.glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
            parents[int(entry.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree = {pid for pid in roots if pid in parents}
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def _process_jiffies(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
            total += float(fields[11]) + float(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return total


class LoadSampler:
    """Samples the machine while the run's own processes (`own_pids` and children) work."""

    def __init__(self, own_pids: Iterable[int], interval_s: float = SAMPLE_SECONDS) -> None:
        self.own_roots = list(own_pids)
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lab-load-sampler", daemon=True)

    def start(self) -> LoadSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        previous = self._read()
        while not self._stop.wait(self.interval_s):
            current = self._read()
            if previous and current:
                self._add(previous, current)
            previous = current

    def _read(self) -> dict[str, float] | None:
        cpu = _cpu_times()
        if cpu is None:
            return None
        own = _process_jiffies(_process_tree(self.own_roots))
        return {"total": cpu[0], "idle": cpu[1], "steal": cpu[2], "own": own}

    def _add(self, before: dict[str, float], after: dict[str, float]) -> None:
        total = after["total"] - before["total"]
        if total <= 0:
            return
        busy = total - (after["idle"] - before["idle"])
        # /proc/stat and the per-process counters are read a few milliseconds apart, so over
        # one interval the run can appear to use slightly more than the whole machine did
        # (52.5 % own vs 51.3 % busy was seen). It cannot really, so it is capped at busy.
        own = min(busy, max(0.0, after["own"] - before["own"]))
        try:
            load1 = os.getloadavg()[0]
        except OSError:
            load1 = float("nan")
        self.samples.append(
            {
                "load1": load1,
                "busy_pct": 100 * busy / total,
                "steal_pct": 100 * (after["steal"] - before["steal"]) / total,
                "own_pct": 100 * own / total,
                "other_pct": 100 * max(0.0, busy - own) / total,
            }
        )

    def stop(self) -> dict[str, Any]:
        """Stop sampling and return the summary stored as meta.json's `machine_load`."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 5)
        return summarize(self.samples, self.interval_s)


def summarize(samples: list[dict[str, float]], interval_s: float) -> dict[str, Any]:
    cpus = os.cpu_count() or 1
    if not samples:
        return {"samples": 0, "cpus": cpus, "note": "no samples (run too short or no /proc)"}

    def stats(key: str) -> dict[str, float]:
        values = [s[key] for s in samples]
        return {"mean": round(statistics.fmean(values), 2), "max": round(max(values), 2)}

    return {
        "samples": len(samples),
        "interval_s": interval_s,
        "cpus": cpus,
        "load_average_1m": stats("load1"),
        "cpu_busy_pct": stats("busy_pct"),
        "cpu_steal_pct": stats("steal_pct"),
        "run_cpu_pct": stats("own_pct"),
        "other_cpu_pct": stats("other_pct"),
    }


def condition_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs beyond the thresholds above between two runs' `machine_load`."""
    if not a.get("samples") or not b.get("samples"):
        return []
    cpus = a.get("cpus") or 1
    found = []
    load_a, load_b = a["load_average_1m"]["mean"], b["load_average_1m"]["mean"]
    if abs(load_a - load_b) / cpus > LOAD_PER_CPU_DIFFERENCE:
        found.append(f"load average {load_a:.1f} vs {load_b:.1f} ({cpus} CPUs)")
    steal_a, steal_b = a["cpu_steal_pct"]["mean"], b["cpu_steal_pct"]["mean"]
    if abs(steal_a - steal_b) > STEAL_DIFFERENCE_PCT:
        found.append(f"CPU steal {steal_a:.0f} % vs {steal_b:.0f} %")
    other_a, other_b = a["other_cpu_pct"]["mean"], b["other_cpu_pct"]["mean"]
    if abs(other_a - other_b) > OTHER_CPU_DIFFERENCE_PCT:
        found.append(f"other processes' CPU {other_a:.0f} % vs {other_b:.0f} %")
    return found
