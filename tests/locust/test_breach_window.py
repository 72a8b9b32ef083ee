"""The abort-on-breach judgement (locustfiles/_breach_window.py), in-process, both ways.

Snapshots are built by hand the way Locust's stats hold them (cumulative counts per
(name, method), response times bucketed in whole ms), so each case states exactly what
happened in each window.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locustfiles._breach_window import (
    ALL_API,
    ALL_PAGES,
    ALL_REQUESTS,
    BreachWatch,
    NameCounts,
    Snapshot,
    bucket_floor_ms,
    difference,
    judge_window,
    p95_ms,
    snapshot,
)
from locustfiles._targets import RunTargets

# Page 2000 ms, API 500 ms, failure ratio 1 %; windows of 30 s judged every 10 s, two in a
# row, after 20 s of warm-up, names with fewer than 20 requests not judged.
TARGETS = replace(
    RunTargets(),
    abort_on_breach=True,
    abort_window_s=30.0,
    abort_every_s=10.0,
    abort_consecutive=2,
    abort_warmup_s=20.0,
    abort_min_requests=20,
)


def counts(requests: int, ms: int, failures: int = 0) -> NameCounts:
    return NameCounts(requests, failures, Counter({ms: requests}))


def test_p95_interpolates_the_lowest_times_the_buckets_can_hold() -> None:
    # 100 values: ranks 94 and 95 (0-based), 5 % of the way from one to the other.
    assert p95_ms(Counter({100: 95, 900: 5})) == pytest.approx(95.0 + 0.05 * (895.0 - 95.0))
    assert p95_ms(Counter({100: 94, 900: 6})) == 895.0
    assert p95_ms(Counter({40: 1})) == 39.5
    assert p95_ms(Counter()) is None
    assert [bucket_floor_ms(b) for b in (7, 99, 100, 990, 1000, 9900, 10000, 59000)] == [
        6.5, 98.5, 95.0, 985.0, 950.0, 9850.0, 9500.0, 58500.0,
    ]  # fmt: skip


def locust_bucket(ms: float) -> int:
    """Locust 2.47's `locust.stats.bucket_response_time` (Locust is not imported in pytest)."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


def linear_p95(values: list[float]) -> float:
    """The final check's p95 (`_checks.py`: linear between the two closest ranks)."""
    ordered = sorted(values)
    position = 0.95 * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


@given(st.lists(st.floats(0.0, 60000.0), min_size=1, max_size=300))
def test_a_window_p95_never_exceeds_the_exact_one(values: list[float]) -> None:
    """So an abort never rests on Locust's rounding: breached in the window, breached exactly."""
    buckets = Counter(locust_bucket(v) for v in values)
    assert p95_ms(buckets) <= linear_p95(values) + 1e-9


def test_a_target_reached_is_breached_and_a_bucket_that_may_be_below_is_not() -> None:
    # A bucket of 500 ms holds 495-505 ms: it may be under the 500 ms target, so no breach.
    assert judge_window({"/api/x/": counts(40, 500)}, TARGETS) == []
    at = judge_window({"/api/x/": counts(40, 510)}, TARGETS)  # 505-515 ms: at least 505
    assert [(b.check, b.name, b.value, b.threshold) for b in at] == [
        ("API p95", "/api/x/", 505.0, 500.0),
        ("API p95", ALL_API, 505.0, 500.0),  # the pool of every API name
    ]
    exactly = replace(TARGETS, api_p95_ms=505.0)  # the lower bound exactly at the target
    assert [b.name for b in judge_window({"/api/x/": counts(40, 510)}, exactly)] == [
        "/api/x/",
        ALL_API,
    ]
    assert judge_window({"/api/x/": counts(40, 510)}, replace(TARGETS, api_p95_ms=505.5)) == []
    page = judge_window({"/sales/": counts(40, 2100)}, TARGETS)  # not under /api/: page target
    assert [(b.check, b.name, b.value, b.threshold) for b in page] == [
        ("page p95", "/sales/", 2050.0, 2000.0),
        ("page p95", ALL_PAGES, 2050.0, 2000.0),
    ]
    assert judge_window({"/sales/": counts(40, 2000)}, TARGETS) == []


def test_names_too_rare_to_judge_are_judged_together() -> None:
    # Five API names of 5 requests each: none has 20, their pool has 25. 2 of 25 slow is 8 %:
    # the pool's p95 is slow (ranks 22 and 23, 80 % of the way); 1 of 25 (4 %) is not.
    slow = {f"/api/{i}/": counts(5, 30) for i in range(4)} | {
        "/api/4/": NameCounts(5, 0, Counter({30: 3, 900: 2}))
    }
    [pool] = judge_window(slow, TARGETS)
    assert (pool.check, pool.name) == ("API p95", ALL_API)
    assert pool.value == pytest.approx(29.5 + 0.8 * (895.0 - 29.5))
    one = {**slow, "/api/4/": NameCounts(5, 0, Counter({30: 4, 900: 1}))}
    assert judge_window(one, TARGETS) == []
    # Pages and API requests are pooled apart, each against its own target.
    mixed = {"/sales/": counts(30, 900), "/api/x/": counts(30, 30)}
    assert judge_window(mixed, TARGETS) == []
    few = {f"/api/{i}/": counts(3, 900) for i in range(6)}  # 18 requests in all: too few
    assert judge_window(few, TARGETS) == []


def test_failure_ratio_per_name_and_overall() -> None:
    window = {"/api/x/": counts(50, 10, failures=1), "/sales/": counts(50, 10)}
    found = {(b.check, b.name): b.value for b in judge_window(window, TARGETS)}
    assert found == {("failure_ratio", ALL_REQUESTS): 0.01, ("failure_ratio", "/api/x/"): 0.02}
    healthy = {"/api/x/": counts(200, 10, failures=1), "/sales/": counts(200, 10)}
    assert judge_window(healthy, TARGETS) == []  # 0.5 % and 0.25 %


def test_too_few_requests_are_not_judged() -> None:
    few = {"/api/x/": counts(19, 5000, failures=19)}
    assert judge_window(few, TARGETS) == []
    found = judge_window({"/api/x/": counts(20, 5000)}, TARGETS)
    assert [(b.check, b.name) for b in found] == [("API p95", "/api/x/"), ("API p95", ALL_API)]


@dataclass
class Entry:
    num_requests: int
    num_failures: int
    response_times: dict[int, int] = field(default_factory=dict)


@dataclass
class Stats:
    entries: dict[tuple[str, str], Entry]


def test_snapshot_merges_methods_and_difference_is_the_window() -> None:
    before = snapshot(Stats({("/api/x/", "GET"): Entry(10, 1, {10: 10})}))
    after = snapshot(
        Stats(
            {
                ("/api/x/", "GET"): Entry(30, 1, {10: 25, 700: 5}),
                ("/api/x/", "POST"): Entry(5, 2, {40: 5}),
            }
        )
    )
    assert after["/api/x/"] == NameCounts(35, 3, Counter({10: 25, 700: 5, 40: 5}))
    assert difference(before, after)["/api/x/"] == NameCounts(
        25, 2, Counter({10: 15, 700: 5, 40: 5})
    )


class Run:
    """Cumulative stats of one name, advanced ten seconds at a time."""

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.times: Counter[int] = Counter()
        self.t = 0.0

    def advance(self, requests: int, ms: int, failures: int = 0) -> Snapshot:
        self.t += 10.0
        self.requests += requests
        self.failures += failures
        self.times[ms] += requests
        return {"/api/x/": NameCounts(self.requests, self.failures, Counter(self.times))}


def play(slices: list[tuple[int, int, int]]) -> tuple[float | None, BreachWatch]:
    """Feed ten-second slices (requests, ms, failures); the time of the abort, if any."""
    run = Run()
    watch = BreachWatch(TARGETS, load_started_at=0.0)
    for requests, ms, failures in slices:
        taken = run.advance(requests, ms, failures)
        if watch.due(run.t) and watch.observe(run.t, taken) is not None:
            return run.t, watch
    return None, watch


SLOW, FAST = (30, 900, 0), (30, 20, 0)


def test_a_breach_that_lasts_aborts_once_every_window_since_warm_up_breached() -> None:
    at, watch = play([SLOW] * 12)
    # Warm-up ends at 20 s: first snapshot; two back-to-back 30 s windows end at 80 s.
    assert at == 80.0
    assert watch.windows_judged == 4  # at 50, 60, 70, 80 s


def test_a_healthy_run_is_never_aborted() -> None:
    at, watch = play([FAST] * 12)
    assert at is None
    assert watch.windows_judged == 8
    assert watch.windows_breached == 0


def test_the_warm_up_is_left_out() -> None:
    # Slow only during the first 20 s (sign-in storm): nothing after is breached.
    at, _watch = play([SLOW, SLOW] + [FAST] * 10)
    assert at is None


def test_one_bad_moment_does_not_abort_though_overlapping_windows_all_contain_it() -> None:
    # Every request failing from 40 to 50 s: in each of the three 30 s windows that contain
    # those 10 s (ending at 50, 60, 70 s), never in two back-to-back windows.
    at, watch = play([FAST] * 4 + [(30, 20, 30)] + [FAST] * 7)
    assert at is None
    assert watch.windows_breached == 3  # the windows ending at 60, 70 and 80 s


def test_a_breach_must_be_the_same_target_in_every_window() -> None:
    # Slow (API p95) from 20 to 50 s, failing fast (failure ratio) from 50 to 80 s: each
    # window breached, by two different targets.
    at, _watch = play([FAST, FAST] + [SLOW] * 3 + [(30, 20, 30)] * 3)
    assert at is None
    at, _watch = play([FAST, FAST] + [SLOW] * 6)
    assert at == 80.0


def test_abort_detail_names_the_target_and_each_window() -> None:
    run = Run()
    watch = BreachWatch(TARGETS, load_started_at=0.0)
    found = None
    while found is None:
        taken = run.advance(30, 900)
        found = watch.observe(run.t, taken)
    detail = found.detail()
    assert detail["check"] == "API p95"
    assert detail["name"] == "/api/x/"
    assert detail["values"] == [895.0, 895.0]  # the 900 ms bucket holds 895-905 ms
    assert detail["threshold"] == 500.0
    assert detail["window_s"] == 30.0
    assert detail["windows"] == 2
    assert found.message() == (
        "API p95 of /api/x/ at least 895 ms >= 500 ms in each of the last 2 windows of 30 s "
        "(895 ms, 895 ms)"
    )


def test_the_warm_up_lasts_until_the_first_plateau_when_that_comes_later() -> None:
    watch = BreachWatch(TARGETS, load_started_at=0.0, not_before=45.0)
    run = Run()
    first = None
    while first is None and run.t < 200:
        taken = run.advance(30, 900)
        if watch.due(run.t):
            first = run.t
            watch.observe(run.t, taken)
    assert first == 50.0  # not at 20 s (warmup_s): the users were still being spawned


def test_stats_reset_starts_the_windows_again() -> None:
    run = Run()
    watch = BreachWatch(TARGETS, load_started_at=0.0)
    for _ in range(6):  # slow from the start; snapshots at 20..60 s: five, too few to abort
        taken = run.advance(30, 900)
        assert watch.observe(run.t, taken) is None
    reset = Run()  # Locust's "reset stats": the counts start again from zero at 60 s
    reset.t = run.t
    for _ in range(6):  # a pair of back-to-back windows needs seven snapshots after the reset
        taken = reset.advance(30, 900)
        assert watch.observe(reset.t, taken) is None
    taken = reset.advance(30, 900)
    assert watch.observe(reset.t, taken) is not None


@pytest.mark.parametrize(("window_s", "steps"), [(30.0, 3), (10.0, 1), (25.0, 2), (35.0, 4)])
def test_windows_are_whole_steps(window_s: float, steps: int) -> None:
    watch = BreachWatch(replace(TARGETS, abort_window_s=window_s), load_started_at=0.0)
    assert watch.steps == steps
    assert watch.window_s == steps * 10.0
