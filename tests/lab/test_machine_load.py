"""Machine load sampling: the run's own CPU is told apart from the rest; differences warn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from lab.machine_load import LoadSampler, condition_differences, summarize


def test_sampler_counts_the_runs_own_process_tree() -> None:
    # A parent that only waits and a child that spins: the child's CPU is the run's own.
    spawn_child = (
        "import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', 'while 1: pass']);"
        " print(child.pid, flush=True); child.wait()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", spawn_child], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    try:
        sampler = LoadSampler([parent.pid], interval_s=0.2).start()
        deadline = time.monotonic() + 60
        while len(sampler.samples) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        summary = sampler.stop()
    finally:
        os.kill(child_pid, signal.SIGKILL)  # the spinning child we started; the parent then exits
        parent.wait(timeout=30)
    assert summary["samples"] >= 5
    assert summary["cpus"] >= 1
    assert summary["run_cpu_pct"]["max"] > 1.0, summary
    # One spinning child is about one CPU's worth of the machine, not counted twice; the
    # slack covers the two /proc reads being a few jiffies apart.
    assert summary["run_cpu_pct"]["max"] <= 100 / summary["cpus"] + 20.0, summary
    for key in ("load_average_1m", "cpu_steal_pct", "other_cpu_pct"):
        assert summary[key]["mean"] >= 0


def _summary(load1: float, steal: float, other: float) -> dict:
    sample = {"load1": load1, "busy_pct": other + 10, "steal_pct": steal, "own_pct": 10.0,
              "other_pct": other}  # fmt: skip
    return summarize([sample, sample], 5.0) | {"cpus": 2}


def test_condition_differences_both_ways() -> None:
    calm = _summary(0.5, 0.0, 5.0)
    assert condition_differences(calm, _summary(1.0, 2.0, 20.0)) == []
    busy = condition_differences(calm, _summary(4.0, 12.0, 60.0))
    assert len(busy) == 3
    assert busy[0].startswith("load average 0.5 vs 4.0")
    assert condition_differences(calm, {"samples": 0}) == []


def test_own_cpu_read_slightly_after_the_machine_is_capped_at_busy() -> None:
    # The per-process counters are read after /proc/stat, so they can run ahead of it.
    sampler = LoadSampler([], interval_s=1.0)
    before = {"total": 0.0, "idle": 0.0, "steal": 0.0, "own": 0.0}
    sampler._add(before, {"total": 200.0, "idle": 97.5, "steal": 0.0, "own": 105.0})
    sampler._add(before, {"total": 200.0, "idle": 150.0, "steal": 0.0, "own": 20.0})
    ahead, behind = sampler.samples
    assert ahead["own_pct"] == ahead["busy_pct"] == 51.25
    assert ahead["other_pct"] == 0.0
    assert (behind["own_pct"], behind["other_pct"]) == (10.0, 15.0)
