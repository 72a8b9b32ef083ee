"""Abort on breach: is a target breached now, window after window? (`lab run --abort-on-breach`)

The master (or the single local process) takes a snapshot of Locust's stats every `every_s`
seconds once `warmup_s` have passed since the load started and the first stage's users all
run (`not_before`: their sign-ins are not judged). On a master these stats are the
aggregate of every worker's reports (each worker reports every 3 s), so the master decides
for the whole run. At each snapshot it judges the last `consecutive` back-to-back windows of
`window_s` seconds, each the difference of two snapshots, with the targets of the final check
(`_checks.py`): per request name its page or API p95 and its failure ratio, the overall
failure ratio, and the p95 of all page requests and of all API requests together. A name
(or a pool) with fewer than `min_requests` requests in a window is not judged in it. When
one and the same target is breached in every one of those windows, the run has failed and
further load only costs time: `BreachWatch.observe` returns the `Abort`.

Why the pools: at a few requests per second spread over some thirty names, no single name
has enough requests in a window to be judged (a Compose run of 6 users breaching every API
target judged 51 windows and aborted none). A pool's p95 at or above its target means at
least 5 % of its requests were that slow, so at least one of its names had 5 % that slow:
the same window fails the final per-name check too (up to the buckets' rounding).

Why back-to-back windows and not `consecutive` overlapping ones: a single failed request
would sit in every overlapping window that contains it, so N "consecutive" overlapping
windows would abort on one bad second. Windows that share no request need the breach to
last `consecutive x window_s`; judging every `every_s` only makes the abort come sooner.

A window's p95 is a lower bound of the exact one, so an abort never rests on rounding.
Locust keeps response times in buckets rounded to about two significant digits
(`locust.stats.bucket_response_time`: whole ms below 100 ms, 10 ms below 1 s, 100 ms below
10 s, then 1 s); the final check interpolates linearly between the two closest ranks of the
exact times. The window interpolates the same two ranks, each at the lowest time its bucket
can hold (`bucket_floor_ms`), and interpolation never grows when its ends shrink: a bucket
of 2000 ms holds 1950 to 2049 ms, so it does not breach a 2000 ms target; one of 2100 ms
does, as "at least 2050 ms". A p95 within half a bucket above its target (2.5 % at most)
is left to the final check. The exit code of an aborted run is 1 whatever the final check
of the partial record says.

No `locust` import here: the judgement is plain functions, tested in-process.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from locustfiles._targets import RunTargets

ALL_REQUESTS = "all requests"  # the name of the overall failure ratio, as in _checks.py
ALL_PAGES = "all pages"  # the pooled p95 of the names that are not under api_prefix
ALL_API = "all API requests"


@dataclass(frozen=True)
class NameCounts:
    """Cumulative counts of one request name (every method) at a snapshot."""

    requests: int = 0
    failures: int = 0
    times: Counter[int] = field(default_factory=Counter)  # Locust's rounded ms -> requests


Snapshot = dict[str, NameCounts]


def snapshot(stats: Any) -> Snapshot:
    """Per request name, from Locust's `RequestStats` (its `entries`, keyed (name, method))."""
    merged: dict[str, NameCounts] = {}
    for (name, _method), entry in list(stats.entries.items()):
        before = merged.get(name, NameCounts())
        merged[name] = NameCounts(
            before.requests + int(entry.num_requests),
            before.failures + int(entry.num_failures),
            before.times + Counter(entry.response_times),
        )
    return merged


def difference(before: Snapshot, after: Snapshot) -> Snapshot:
    """What happened between two snapshots."""
    window = {}
    for name, now in after.items():
        then = before.get(name, NameCounts())
        window[name] = NameCounts(
            now.requests - then.requests, now.failures - then.failures, now.times - then.times
        )
    return window


def bucket_floor_ms(bucket: int) -> float:
    """The lowest response time Locust rounds into `bucket` (or less: never more)."""
    if bucket < 100:
        return bucket - 0.5
    if bucket < 1000:
        return bucket - 5.0
    if bucket < 10000:
        return bucket - 50.0
    return bucket - 500.0


def p95_ms(times: Counter[int]) -> float | None:
    """A lower bound of the linearly interpolated 95th percentile of the times bucketed here.

    Linear interpolation between the 0-based ranks `floor(0.95 (n - 1))` and the next, as
    `_checks.py` does, with each rank at the lowest time its bucket can hold.
    """
    total = sum(times.values())
    if total <= 0:
        return None
    position = 0.95 * (total - 1)
    low = math.floor(position)
    high = min(low + 1, total - 1)
    ends: dict[int, float] = {}
    seen = 0
    for value in sorted(times):
        first, seen = seen, seen + times[value]
        for rank in (low, high):
            if first <= rank < seen:
                ends[rank] = bucket_floor_ms(value)
    return ends[low] + (position - low) * (ends[high] - ends[low])


@dataclass(frozen=True)
class Breach:
    check: str  # "failure_ratio", "API p95", "page p95" (the names _checks.py uses)
    name: str  # a request name, or ALL_REQUESTS
    value: float
    threshold: float

    @property
    def key(self) -> tuple[str, str]:
        return self.check, self.name

    def describe(self) -> str:
        if self.check == "failure_ratio":
            return f"failure ratio of {self.name} {self.value:.2%} >= {self.threshold:.2%}"
        return (
            f"{self.check} of {self.name} at least {self.value:.0f} ms >= {self.threshold:.0f} ms"
        )


def judge_window(window: Snapshot, targets: RunTargets) -> list[Breach]:
    """Every target breached in one window (a target exactly reached is breached, as at the end).

    Most specific first: each name's breaches, then the page and API pools, then the overall
    failure ratio (the abort names the first target breached in every window).
    """
    breaches = []
    minimum = targets.abort_min_requests
    pools: dict[str, Counter[int]] = {ALL_PAGES: Counter(), ALL_API: Counter()}
    for name in sorted(window):
        counts = window[name]
        pools[ALL_API if targets.is_api(name) else ALL_PAGES].update(counts.times)
        if counts.requests < minimum:
            continue
        ratio = counts.failures / counts.requests
        if ratio >= targets.failure_ratio:
            breaches.append(Breach("failure_ratio", name, ratio, targets.failure_ratio))
        p95 = p95_ms(counts.times)
        threshold = targets.p95_target_ms(name)
        if p95 is not None and p95 >= threshold:
            kind = "API p95" if targets.is_api(name) else "page p95"
            breaches.append(Breach(kind, name, p95, threshold))
    for pool, times in pools.items():
        threshold = targets.api_p95_ms if pool == ALL_API else targets.page_p95_ms
        p95 = p95_ms(times) if sum(times.values()) >= minimum else None
        if p95 is not None and p95 >= threshold:
            kind = "API p95" if pool == ALL_API else "page p95"
            breaches.append(Breach(kind, pool, p95, threshold))
    requests = sum(c.requests for c in window.values())
    failures = sum(c.failures for c in window.values())
    if requests >= minimum and failures / requests >= targets.failure_ratio:
        breaches.append(
            Breach("failure_ratio", ALL_REQUESTS, failures / requests, targets.failure_ratio)
        )
    return breaches


@dataclass(frozen=True)
class Abort:
    """The breach that ended the run: the same target in each of the last windows."""

    breach: Breach  # in the newest window
    values: tuple[float, ...]  # the breached value in each window, oldest first
    window_s: float  # the windows' nominal length
    windows: int

    def message(self) -> str:
        shown = ", ".join(
            f"{v:.2%}" if self.breach.check == "failure_ratio" else f"{v:.0f} ms"
            for v in self.values
        )
        return (
            f"{self.breach.describe()} in each of the last {self.windows} windows of "
            f"{self.window_s:.0f} s ({shown})"
        )

    def detail(self) -> dict[str, Any]:
        """The `run_aborted` event's detail (with `reason` added by the writer)."""
        return {
            "check": self.breach.check,
            "name": self.breach.name,
            "threshold": self.breach.threshold,
            "values": [round(v, 4) for v in self.values],
            "window_s": self.window_s,
            "windows": self.windows,
            "message": self.message(),
        }


class BreachWatch:
    """Snapshots every `abort_every_s` after the warm-up; an `Abort` once a breach persists."""

    def __init__(
        self, targets: RunTargets, load_started_at: float, not_before: float = 0.0
    ) -> None:
        """`not_before`: the warm-up also lasts until then (the plugin: the first plateau)."""
        self.targets = targets
        self.started_at = load_started_at
        # Snapshots per window: the windows end on snapshots, so window_s is rounded to
        # a whole number of every_s (at least one).
        self.steps = max(1, round(targets.abort_window_s / targets.abort_every_s))
        self.window_s = self.steps * targets.abort_every_s
        self._snapshots: deque[tuple[float, Snapshot]] = deque(
            maxlen=targets.abort_consecutive * self.steps + 1
        )
        self._next_at = max(load_started_at + targets.abort_warmup_s, not_before)
        self.windows_judged = 0  # windows complete and judged (the newest, at each snapshot)
        self.windows_breached = 0
        self.latest: list[Breach] = []  # the breaches of the newest window judged

    def due(self, now: float) -> bool:
        return now >= self._next_at

    def observe(self, now: float, taken: Snapshot) -> Abort | None:
        """Take the snapshot made at `now`; the abort, if the breach has lasted long enough."""
        if not self.due(now):
            return None
        self._next_at = now + self.targets.abort_every_s
        if self._snapshots and _went_back(self._snapshots[-1][1], taken):
            self._snapshots.clear()  # stats were reset (Locust's UI): start over
        self._snapshots.append((now, taken))
        if len(self._snapshots) < self.steps + 1:
            return None
        snaps = list(self._snapshots)
        judged: list[list[Breach]] = []
        end = len(snaps) - 1
        while end - self.steps >= 0 and len(judged) < self.targets.abort_consecutive:
            window = difference(snaps[end - self.steps][1], snaps[end][1])
            judged.append(judge_window(window, self.targets))
            end -= self.steps
        self.windows_judged += 1
        self.latest = judged[0]
        if judged[0]:
            self.windows_breached += 1
        if len(judged) < self.targets.abort_consecutive:
            return None
        return _persistent(judged, self.window_s)


def _went_back(before: Snapshot, after: Snapshot) -> bool:
    total_before = sum(c.requests for c in before.values())
    return sum(c.requests for c in after.values()) < total_before


def _persistent(judged_newest_first: list[list[Breach]], window_s: float) -> Abort | None:
    """The first target (in judge order) breached in every window, or None."""
    by_window = [{b.key: b for b in breaches} for breaches in judged_newest_first]
    common = set(by_window[0])
    for window in by_window[1:]:
        common &= set(window)
    if not common:
        return None
    first = next(b for b in judged_newest_first[0] if b.key in common)
    values = tuple(window[first.key].value for window in reversed(by_window))
    return Abort(first, values, window_s, len(by_window))


def breach_lines(breaches: Iterable[Breach]) -> str:
    """One log line's worth: every breach of a window, or `none`."""
    return "; ".join(b.describe() for b in breaches) or "none"
