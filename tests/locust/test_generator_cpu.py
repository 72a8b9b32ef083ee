"""Generator saturation (locustfiles/_generator_cpu.py), in-process, both ways.

Readings arrive as Locust keeps them: one value per process that changes every reading
interval (here 10 s, Locust 2.47's CPU_MONITOR_INTERVAL) and is seen by a poll every second.
"""

from __future__ import annotations

from locustfiles._generator_cpu import CpuSaturation


def poll(tracker: CpuSaturation, readings: list[float], process: str = "w1") -> list[float]:
    """Poll once a second; each reading holds for 10 s. The times a saturation was found."""
    found = []
    for second in range(len(readings) * 10):
        now = float(second + 1)
        if tracker.observe(process, readings[second // 10], now) is not None:
            found.append(now)
    return found


def test_two_readings_in_a_row_above_80_percent_saturate() -> None:
    tracker = CpuSaturation(max_pct=80.0, sustained_s=20.0, reading_interval_s=10.0)
    # First high reading seen at 11 s (it covers 1..11 s): 20 s above at 21 s, flagged once.
    assert poll(tracker, [0.0, 95.0, 96.0, 97.0, 99.0]) == [21.0]
    assert tracker.flagged == {"w1"}


def test_one_high_reading_between_low_ones_does_not() -> None:
    tracker = CpuSaturation(max_pct=80.0, sustained_s=20.0, reading_interval_s=10.0)
    assert poll(tracker, [30.0, 95.0, 40.0, 95.0, 40.0, 95.0]) == []


def test_exactly_the_threshold_is_not_above_it() -> None:
    tracker = CpuSaturation(max_pct=80.0, sustained_s=20.0, reading_interval_s=10.0)
    assert poll(tracker, [80.0] * 6) == []
    assert poll(CpuSaturation(80.0, 20.0, 10.0), [80.1] * 6) == [11.0]


def test_processes_are_judged_apart_and_the_detail_says_what_was_seen() -> None:
    tracker = CpuSaturation(max_pct=80.0, sustained_s=20.0, reading_interval_s=10.0)
    assert tracker.observe("w1", 90.0, 100.0) is None
    assert tracker.observe("w2", 50.0, 100.0) is None
    found = tracker.observe("w1", 99.0, 110.0)
    assert found is not None
    assert found.detail() == {
        "worker": "w1",
        "cpu_peak_pct": 99.0,
        "above_s": 20.0,
        "threshold_pct": 80.0,
        "sustained_s": 20.0,
    }
    assert tracker.observe("w2", 50.0, 111.0) is None
    assert tracker.observe("w1", 99.0, 120.0) is None  # once per process


def test_the_highest_reading_of_each_process_is_kept_for_run_finished() -> None:
    tracker = CpuSaturation(max_pct=80.0, sustained_s=20.0, reading_interval_s=5.0)
    for process, cpu in [("w1", 3.14159), ("w1", 2.0), ("w2", 0.04), ("w3", None)]:
        tracker.observe(process, cpu, 1.0)
    assert tracker.highest == {"w1": 3.1, "w2": 0.0}  # 0.1 % steps; no reading, no entry


def test_a_dip_below_the_line_starts_the_count_and_the_peak_again() -> None:
    tracker = CpuSaturation(max_pct=80.0, sustained_s=10.0, reading_interval_s=5.0)
    assert tracker.observe("w1", 99.0, 100.0) is None  # above since 95 s
    assert tracker.observe("w1", 10.0, 101.0) is None
    assert tracker.observe("w1", 85.0, 102.0) is None  # above since 97 s
    found = tracker.observe("w1", 84.26, 107.37)
    assert found is not None
    assert found.detail()["cpu_peak_pct"] == 85.0  # not the 99 % before the dip
    assert found.detail()["above_s"] == 10.4  # 10.37 s, to 0.1 s
    tracker = CpuSaturation(max_pct=80.0, sustained_s=10.0, reading_interval_s=5.0)
    tracker.observe("w1", 97.46, 100.0)
    found = tracker.observe("w1", 90.0, 105.0)
    assert found is not None
    assert found.detail()["cpu_peak_pct"] == 97.5
    assert found.message() == "load generator w1 above 80 % CPU for 10 s (peak 97 %)"
