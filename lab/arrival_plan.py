"""The open model's arrival schedule: steps of task arrival rates on the wall clock.

One definition for the generator (locustfiles/_arrivals.py hands each process its share) and
the analyses (lab/arrival_steps.py judges each step). The master fixes the plan once the
user pool has signed in and sends it to the workers as JSON (a Locust custom message): the
first arrival is at `t0` (unix seconds); arrivals follow each step's rate, independent of
response times. Global arrival k is due when the cumulative planned count reaches k; worker i
of n takes the arrivals k with k % n == i, so the workers together follow the plan exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from lab.contract import ARRIVAL_SIGN_IN_ALLOWANCE_S

MIN_STEADY_S = 10.0  # shorter than this, the arrivals have nothing to judge


class PlanError(ValueError):
    """A schedule that cannot run (too short a duration for the sign-in and the steps)."""


@dataclass(frozen=True)
class RateStep:
    start_s: float  # seconds after t0
    end_s: float
    rate: float  # tasks/s, all workers together


@dataclass(frozen=True)
class ArrivalPlan:
    t0: float  # unix seconds of the first arrival
    steps: tuple[RateStep, ...]
    workers: tuple[str, ...] = ("local",)  # who shares the arrivals, in the order of k % n
    mode: str = "open"  # "paced": no schedule, users paced by Locust (the closed comparison)
    users: int = 1  # the pool, all workers together

    # --- arithmetic --------------------------------------------------------------------------
    def cumulative(self, t_rel: float) -> float:
        """Arrivals planned in [0, t_rel), all workers."""
        total = 0.0
        for step in self.steps:
            if t_rel <= step.start_s:
                break
            total += step.rate * (min(t_rel, step.end_s) - step.start_s)
        return total

    def due(self, t_rel: float) -> int:
        """Global arrivals due before t_rel (arrival k is due when cumulative() reaches k)."""
        return 0 if t_rel <= 0 else math.ceil(self.cumulative(t_rel) - 1e-9)

    def arrival_time(self, k: int) -> float | None:
        """Unix time of global arrival k, or None when the schedule ends before it."""
        before = 0.0
        for step in self.steps:
            planned = step.rate * (step.end_s - step.start_s)
            if step.rate > 0 and k < before + planned - 1e-9:
                return self.t0 + step.start_s + (k - before) / step.rate
            before += planned
        return None

    def step_of(self, t_rel: float) -> int | None:
        for index, step in enumerate(self.steps):
            if step.start_s <= t_rel < step.end_s:
                return index
        return None

    @property
    def end(self) -> float:
        return self.t0 + (self.steps[-1].end_s if self.steps else 0.0)

    # --- shipping ----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ArrivalPlan:
        data = json.loads(text)
        return cls(
            t0=float(data["t0"]),
            steps=tuple(RateStep(**step) for step in data["steps"]),
            workers=tuple(data.get("workers") or ("local",)),
            mode=str(data.get("mode") or "open"),
            users=int(data.get("users") or 1),
        )


def share(index: int, n: int, start: int, end: int) -> int:
    """How many k in [start, end) have k % n == index."""

    def upto(x: int) -> int:  # k in [0, x) with k % n == index
        return max(0, -(-(x - index) // n))

    return upto(end) - upto(start)


def sign_in_s(users: int, spawn_rate: float) -> float:
    """The sign-in time a run must leave before its arrivals (ramp plus the allowance)."""
    return users / max(spawn_rate, 1e-9) + ARRIVAL_SIGN_IN_ALLOWANCE_S


def check_fits(*, duration_s: float, users: int, spawn_rate: float, rate: float) -> None:
    """PlanError unless the run leaves MIN_STEADY_S of arrivals after an expected sign-in."""
    warmup = sign_in_s(users, spawn_rate)
    steady = duration_s - warmup
    if steady < MIN_STEADY_S:
        raise PlanError(
            f"a duration of {duration_s:.0f} s leaves {steady:.0f} s of arrivals after the "
            f"{warmup:.0f} s sign-in of {users} users; give at least "
            f"{math.ceil(warmup + MIN_STEADY_S)} s (or fewer users, a higher spawn rate)"
        )
    if rate <= 0:
        raise PlanError("the arrival rate must be positive")


def build_plan(
    *,
    t0: float,
    end: float,
    users: int,
    rate: float,
    steps: int,
    workers: tuple[str, ...],
    mode: str = "open",
) -> ArrivalPlan:
    """`steps` equal steps up to `rate` (1 step: a constant rate) from t0 to the run's end.

    t0 is when the pool has signed in (the master waits for it), so no arrival waits on a
    sign-in and no step carries the sign-in storm.
    """
    width = max(0.0, end - t0) / steps
    table = tuple(
        RateStep(round(i * width, 3), round((i + 1) * width, 3), rate * (i + 1) / steps)
        for i in range(steps)
    )
    return ArrivalPlan(t0=t0, steps=table, workers=workers, mode=mode, users=users)
