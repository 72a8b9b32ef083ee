"""Load shapes as stage tables, chosen by `LAB_PROFILE` / `--lab-profile`.

A stage ends at a fraction of the run's duration and holds a fraction of the
peak users; `LAB_USERS`, `LAB_SPAWN_RATE` and `LAB_DURATION` scale the table.
`stress` steps up and stops at the first step that breaks a target (p95 of
pages or API, or the failure ratio, over that step alone); the breaking point
(users and requests/s of the last step that held) is logged and written to
`events.jsonl`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from locust import LoadTestShape

from lab.contract import PROFILES
from locustfiles._settings import LabSettings, settings_from_options
from locustfiles._targets import RunTargets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    end: float  # fraction of the duration at which this stage ends
    users: float  # fraction of peak users
    spawn_rate: float | None = None  # users/s; None = the profile's spawn rate


@dataclass(frozen=True)
class Profile:
    """A profile's shape; its name, peak users and default length are lab.contract.PROFILES."""

    stages: tuple[Stage, ...]
    spawn_rate: float | None = None  # None = ramp to peak in 10 % of the duration
    evaluate_steps: bool = False


SHAPES: dict[str, Profile] = {
    "smoke": Profile(stages=(Stage(1.0, 1.0),), spawn_rate=3),
    # Ramp (spawn rate) to a plateau held to the end.
    "load": Profile(stages=(Stage(1.0, 1.0),)),
    # Ten equal steps up to the peak; the first step that breaks a target ends the run.
    "stress": Profile(
        stages=tuple(Stage(round((i + 1) / 10, 2), (i + 1) / 10) for i in range(10)),
        evaluate_steps=True,
    ),
    # Baseline, a sudden jump to the peak, and back: does the app recover?
    "spike": Profile(
        stages=(Stage(0.3, 0.2), Stage(0.5, 1.0, spawn_rate=math.inf), Stage(1.0, 0.2)),
    ),
    # A long plateau: memory and latency drift; duration is the user's call.
    "soak": Profile(stages=(Stage(1.0, 1.0),)),
    # Open model: the pool of users signs in, then serves the arrival schedule
    # (locustfiles/_arrivals.py); load is set by the rate, not by the users.
    "arrival": Profile(stages=(Stage(1.0, 1.0),)),
}
assert set(SHAPES) == set(PROFILES), "every profile of lab.contract has a shape"


@dataclass(frozen=True)
class ResolvedStage:
    end_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class CommonOptions:
    """Locust's own `-u`, `-r`, `-t` (or the users, spawn rate and run time typed in its UI)."""

    users: int | None = None
    spawn_rate: float | None = None
    run_time_s: int | None = None

    @classmethod
    def from_options(cls, options: Any) -> CommonOptions:
        if options is None:
            return cls()
        users = getattr(options, "num_users", None)
        rate = getattr(options, "spawn_rate", None)
        run_time = getattr(options, "run_time", None)
        return cls(
            users=int(users) if users else None,
            spawn_rate=float(rate) if rate else None,
            run_time_s=int(run_time) if run_time else None,
        )


def resolve_stages(
    settings: LabSettings, common: CommonOptions | None = None
) -> list[ResolvedStage]:
    """The profile's stage table at the run's peak users, spawn rate and duration.

    Locust's own options win over the `LAB_*` knobs, which win over the profile's defaults:
    what a user types into Locust's UI (or passes as `-u -r -t`) is what runs.
    """
    common = common or CommonOptions()
    defaults, profile = PROFILES[settings.profile], SHAPES[settings.profile]
    users = common.users or settings.users or defaults.users
    duration_s = common.run_time_s or settings.duration_s or defaults.duration_s
    spawn_rate = (
        common.spawn_rate
        or settings.spawn_rate
        or profile.spawn_rate
        or max(1.0, users / (0.1 * duration_s))
    )
    if settings.arrival_mode is not None:
        # Open model (also `stress --rate`): the whole pool for the whole run; the arrival
        # plan steps the rate instead.
        profile = SHAPES["arrival"]
    resolved = []
    for stage in profile.stages:
        stage_users = max(1, round(users * stage.users))
        rate = stage.spawn_rate if stage.spawn_rate is not None else spawn_rate
        resolved.append(
            ResolvedStage(stage.end * duration_s, stage_users, float(min(rate, max(users, 1))))
        )
    return resolved


# Sign-ins (Argon2): a step's storm of them is reported apart from its steady part.
SIGN_IN_REQUESTS = frozenset({("/accounts/login/", "POST"), ("/api/auth/token/", "POST")})


@dataclass
class _Window:
    requests: int = 0
    failures: int = 0
    page: Counter[int] | None = None
    api: Counter[int] | None = None
    sign_in: Counter[int] | None = None


def _snapshot(stats: Any, targets: RunTargets) -> _Window:
    window = _Window(page=Counter(), api=Counter(), sign_in=Counter())
    for (name, method), entry in stats.entries.items():
        if (name, method) in SIGN_IN_REQUESTS:
            window.sign_in.update(entry.response_times)  # type: ignore[union-attr]
            continue
        window.requests += entry.num_requests
        window.failures += entry.num_failures
        bucket = window.api if targets.is_api(name) else window.page
        bucket.update(entry.response_times)
    return window


def _p95(counts: Counter[int]) -> float | None:
    total = sum(counts.values())
    if total == 0:
        return None
    rank = math.ceil(0.95 * total)
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return None


@dataclass(frozen=True)
class StepVerdict:
    users: int
    rps: float
    page_p95_ms: float | None
    api_p95_ms: float | None
    failure_ratio: float
    broken_by: str | None
    # The step's sign-in storm (from the step's start): how many, their p95.
    sign_ins: int = 0
    sign_in_p95_ms: float | None = None


def judge_step(
    before: _Window, after: _Window, seconds: float, users: int, targets: RunTargets
) -> StepVerdict:
    """The steady part of a step, `before` (its users signed in) to `after` (its end)."""
    requests = after.requests - before.requests
    failures = after.failures - before.failures
    page = (after.page or Counter()) - (before.page or Counter())
    api = (after.api or Counter()) - (before.api or Counter())
    page_p95, api_p95 = _p95(page), _p95(api)
    ratio = failures / requests if requests else 0.0
    broken_by = None
    if page_p95 is not None and page_p95 >= targets.page_p95_ms:
        broken_by = f"page p95 {page_p95:.0f} ms >= {targets.page_p95_ms:.0f} ms"
    elif api_p95 is not None and api_p95 >= targets.api_p95_ms:
        broken_by = f"API p95 {api_p95:.0f} ms >= {targets.api_p95_ms:.0f} ms"
    elif ratio >= targets.failure_ratio:
        broken_by = f"failure ratio {ratio:.2%} >= {targets.failure_ratio:.2%}"
    return StepVerdict(
        users, requests / seconds if seconds > 0 else 0.0, page_p95, api_p95, ratio, broken_by
    )


class LabShape(LoadTestShape):
    """The stage table of the selected profile, scaled by the run's users and duration.

    `use_common_options`: Locust's UI shows (and `-u -r -t` set) users, spawn rate and run
    time for this shape, and they are honoured (see `resolve_stages`).
    """

    use_common_options = True
    settings: LabSettings | None = None
    # Locust's -u -r -t as given at start-up: a headless Locust fills unset ones with 1 before
    # the shape starts, so the plugin keeps what was really given (set at init).
    launch_options: CommonOptions = CommonOptions()
    targets: RunTargets = RunTargets()
    on_breaking_point: Any = None  # callable(held: StepVerdict | None, broke: StepVerdict)
    on_step: Any = None  # callable(index: int, verdict: StepVerdict), every judged step

    # callable() -> users signed in or given up so far (the plugin's count, all workers).
    users_ready: Any = None

    def __init__(self) -> None:
        super().__init__()
        self._stages: list[ResolvedStage] | None = None
        self._stage_index = -1
        self._window: _Window | None = None
        self._window_started = 0.0
        self._step_start: _Window | None = None  # for the step's sign-in storm
        self._held: StepVerdict | None = None
        self._finished = False

    def reset_time(self) -> None:
        """Called by Locust when a test starts: plan it from the options as they are now."""
        super().reset_time()
        self._stages = None
        self._stage_index = -1
        self._window = None
        self._window_started = 0.0
        self._step_start = None
        self._held = None
        self._finished = False
        options = self._options()
        if options is not None:
            type(self).settings = settings_from_options(options)

    def _options(self) -> Any:
        runner = getattr(self, "runner", None)
        environment = getattr(runner, "environment", None)
        return getattr(environment, "parsed_options", None)

    def stages(self) -> list[ResolvedStage]:
        if self._stages is None:
            if self.settings is None:
                raise RuntimeError("LabShape used before the lab plugin configured it")
            self._stages = resolve_stages(self.settings, self.common_options())
        return self._stages

    def common_options(self) -> CommonOptions:
        """Headless: the options given at start-up; web UI: what was typed for this test."""
        options = self._options()
        if (
            options is None
            or getattr(options, "headless", False)
            or getattr(options, "autostart", False)
        ):
            return self.launch_options
        return CommonOptions.from_options(options)

    @property
    def finished(self) -> bool:
        """True once the plan ran out (or a stress step broke): the shape ended the test."""
        return self._finished

    def planned_users(self) -> int | None:
        """Users of the stage the shape is in now (None before the start or after the end)."""
        if self._stages is None or self._finished or self._stage_index < 0:
            return None
        return self._stages[self._stage_index].users

    def tick(self) -> tuple[int, float] | None:
        if self._finished:
            return None
        run_time = self.get_run_time()
        stages = self.stages()
        index = next((i for i, stage in enumerate(stages) if run_time < stage.end_s), None)
        evaluate = (
            self.settings is not None
            and self.settings.arrival_mode is None  # open stress: judged from the record
            and SHAPES[self.settings.profile].evaluate_steps
        )
        if index is None:
            if evaluate and not self._close_step(run_time) and self._held is not None:
                logger.info(
                    "no breaking point: every step held, up to %d users (%.1f req/s)",
                    self._held.users,
                    self._held.rps,
                )
            self._finished = True
            return None
        if index != self._stage_index:
            if evaluate and self._close_step(run_time):
                self._finished = True
                return None
            self._stage_index = index
        elif evaluate and self._window is None:
            self._open_window_when_ready(run_time, stages[index].users)
        stage = stages[index]
        return stage.users, stage.spawn_rate

    def _open_window_when_ready(self, run_time: float, users: int) -> None:
        """A step's steady part starts once every user of it has signed in (or given up)."""
        runner = getattr(self, "runner", None)
        ready = self.users_ready() if self.users_ready is not None else users
        if runner is None or ready < users:
            return
        self._window = _snapshot(runner.stats, self.targets)
        self._window_started = run_time

    def _close_step(self, run_time: float) -> bool:
        """Judge the step that just ended; True when it broke a target."""
        runner = getattr(self, "runner", None)
        if runner is None:
            return False
        now = _snapshot(runner.stats, self.targets)
        if self._stage_index >= 0:
            users = self.stages()[self._stage_index].users
            if self._window is None:  # the step ended before its users had all signed in
                ready = self.users_ready() if self.users_ready is not None else 0
                verdict = StepVerdict(
                    users, 0.0, None, None, 0.0,
                    f"only {ready} of {users} users signed in by the end of the step",
                )  # fmt: skip
            else:
                verdict = judge_step(
                    self._window, now, run_time - self._window_started, users, self.targets
                )
            storm = (now.sign_in or Counter()) - (
                (self._step_start.sign_in or Counter()) if self._step_start else Counter()
            )
            verdict = replace(verdict, sign_ins=sum(storm.values()), sign_in_p95_ms=_p95(storm))
            logger.info(
                "stress step %d: %d users, steady %.1f req/s, p95 page %s / API %s ms, "
                "failed %.2f%%; %d sign-ins p95 %s ms",
                self._stage_index + 1,
                verdict.users,
                verdict.rps,
                verdict.page_p95_ms,
                verdict.api_p95_ms,
                verdict.failure_ratio * 100,
                verdict.sign_ins,
                verdict.sign_in_p95_ms,
            )
            if self.on_step is not None:
                self.on_step(self._stage_index, verdict)
            if verdict.broken_by is not None:
                if self._held is None:
                    logger.warning(
                        "breaking point: the first step already broke (%s)", verdict.broken_by
                    )
                else:
                    logger.warning(
                        "breaking point: %s at %d users; last step that held: %d users, %.1f req/s",
                        verdict.broken_by,
                        verdict.users,
                        self._held.users,
                        self._held.rps,
                    )
                if self.on_breaking_point is not None:
                    self.on_breaking_point(self._held, verdict)
                return True
            self._held = verdict
        self._window = None  # opens when the next step's users have signed in
        self._step_start = now
        return False
