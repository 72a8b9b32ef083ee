"""Open model: this process's share of the arrival schedule, served by its user pool.

Locust's users are a closed loop: each waits for its response before its next task, so a
stalled app receives fewer requests and the stall is under-sampled (coordinated omission).
Here a user's `wait_time` takes the process's next arrival ticket and sleeps until that
arrival's intended start; a user that comes back late (the app was slow, every user was busy,
or the generator could not wake in time) starts at once and the task carries its schedule lag.
Every request of the task then records `intended_start_us` (its start minus the lag) and
`schedule_lag_us`, so corrected latency (from the intended start) is exact per request.

Why not Locust's `constant_throughput` or locust_plugins' `constant_total_ips`: both pace
*from the last start*, and when they are late they start now and forget the missed time
(`constant_total_ips` resets its clock), which is exactly the omission this corrects. Locust's
`constant_throughput` is used for the closed comparison (`LAB_MODEL=closed`).

The master sends the plan (lab/arrival_plan.py) once the pool has signed in; until then a
signed-in user waits (`first_wait`), so no arrival is scheduled into the sign-in storm.
Counts (arrivals planned, started, late) are written per worker to
`requests/<worker>/arrivals.json` at the end; the master adds them up (lab/arrival_steps.py).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from locust import constant_throughput

from lab.arrival_plan import ArrivalPlan, share
from lab.contract import LATE_ARRIVAL_S, atomic_write

logger = logging.getLogger(__name__)

IDLE_S = 3600.0  # after the schedule's end a user idles until the run stops it


@dataclass
class StepCounts:
    started: int = 0
    late: int = 0  # started more than LATE_ARRIVAL_S after the intended start
    lag_max_s: float = 0.0


@dataclass
class ArrivalClock:
    """Hands out this process's arrival tickets in order (k = index, index + n, ...)."""

    plan: ArrivalPlan
    index: int
    count: int
    counts: list[StepCounts] = field(default_factory=list)
    written: bool = False
    _next: int = 0

    def __post_init__(self) -> None:
        self.counts = [StepCounts() for _ in self.plan.steps]

    def take(self) -> float | None:
        """The intended start (unix s) of the next arrival of this process, None after the end."""
        k = self.index + self._next * self.count
        self._next += 1
        return self.plan.arrival_time(k)

    def started(self, intended: float, lag_s: float) -> None:
        step = self.plan.step_of(intended - self.plan.t0)
        if step is None:
            return
        counts = self.counts[step]
        counts.started += 1
        if lag_s > LATE_ARRIVAL_S:
            counts.late += 1
        counts.lag_max_s = max(counts.lag_max_s, lag_s)

    def summary(self, stopped_at: float, worker: str) -> dict[str, Any]:
        """Per step: arrivals of this process due before `stopped_at`, started, late."""
        plan, stop_rel = self.plan, stopped_at - self.plan.t0
        steps = []
        for step, counts in zip(plan.steps, self.counts, strict=True):
            start_k = plan.due(step.start_s)
            end_k = plan.due(min(step.end_s, stop_rel)) if stop_rel > step.start_s else start_k
            steps.append(
                {
                    "planned": share(self.index, self.count, start_k, end_k),
                    "started": counts.started,
                    "late": counts.late,
                    "lag_max_s": round(counts.lag_max_s, 4),
                }
            )
        return {"worker": worker, "index": self.index, "count": self.count, "steps": steps}


_clock: ArrivalClock | None = None
_original_wait: dict[type, Any] = {}
_mode: str | None = None  # this test: "open", "paced" (closed comparison) or None (users)
_plan: ArrivalPlan | None = None  # once the master has sent it
_paced: tuple[float, float] | None = None  # (t0, one user's pacing period) in the closed model
PLAN_POLL_S = 0.1


def active() -> ArrivalClock | None:
    return _clock


def _await_plan() -> None:
    """Block a signed-in user until the master's plan is here (it waits for the pool)."""
    while _mode is not None and _plan is None:
        gevent.sleep(PLAN_POLL_S)


def open_wait_time(user: Any) -> float:
    """`wait_time` of every user in the open model: sleep until the next arrival is due."""
    _await_plan()
    if _clock is None:  # a worker left out of the plan sends nothing
        while True:
            gevent.sleep(IDLE_S)
    wait_for_arrival(user)
    return 0.0


def wait_for_arrival(user: Any) -> None:
    """Block until this process's next arrival; mark the user with the task's schedule lag."""
    clock = _clock
    if clock is None:
        return
    intended = clock.take()
    if intended is None:  # the schedule is over: nothing more to send
        user.schedule_lag_s = None
        while True:
            gevent.sleep(IDLE_S)
    delay = intended - time.time()
    if delay > 0:
        gevent.sleep(delay)
    lag = max(0.0, time.time() - intended)
    clock.started(intended, lag)
    user.schedule_lag_s = lag


def first_wait(user: Any) -> None:
    """After sign-in: an open-model user waits for its first arrival, a paced one for t0."""
    if _mode is None:
        return
    _await_plan()
    if _mode == "open":
        open_wait_time(user)
    elif _paced is not None:
        t0, period = _paced
        # Spread the users' first tasks over one pacing period, as a steady loop would be.
        delay = t0 + random.random() * period - time.time()
        if delay > 0:
            gevent.sleep(delay)
        user._cp_last_run = time.perf_counter()  # Locust's pacing counts from here


def prepare(user_classes: list[type], mode: str | None) -> None:
    """At test start: restore the classes' wait_time; in the open or paced model, users
    block after sign-in until `start` brings the plan."""
    global _clock, _paced, _plan, _mode
    for cls in user_classes:
        if cls not in _original_wait:
            _original_wait[cls] = cls.__dict__.get("wait_time", cls.wait_time)
        cls.wait_time = _original_wait[cls]
    _clock, _paced, _plan, _mode = None, None, None, mode
    if mode == "open":
        for cls in user_classes:
            cls.wait_time = open_wait_time


def start(user_classes: list[type], plan: ArrivalPlan, worker: str) -> None:
    """The master's plan arrived: this process's share of it starts now."""
    global _clock, _paced, _plan
    if plan.mode == "paced":
        rate = plan.steps[0].rate if plan.steps else 1.0
        paced = constant_throughput(rate / plan.users)
        for cls in user_classes:
            cls.wait_time = paced
        _paced = (plan.t0, plan.users / rate)
    elif worker in plan.workers:
        _clock = ArrivalClock(plan, plan.workers.index(worker), len(plan.workers))
    else:
        logger.warning("worker %s is not in the arrival plan: it sends no arrivals", worker)
    _plan = plan


def write_counts(path: Path, worker: str) -> None:
    """This process's arrival counts, for the master's late-arrival check (once per test:
    the first stop is when the users stopped taking arrivals)."""
    if _clock is None or _clock.written:
        return
    _clock.written = True
    try:
        atomic_write(path, json.dumps(_clock.summary(time.time(), worker)))
    except OSError as exc:
        logger.error("arrival counts not written to %s: %s", path, exc)
