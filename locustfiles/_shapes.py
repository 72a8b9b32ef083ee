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
from dataclasses import dataclass
from typing import Any

from locust import LoadTestShape

from locustfiles._settings import LabSettings
from locustfiles._targets import RunTargets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    end: float  # fraction of the duration at which this stage ends
    users: float  # fraction of peak users
    spawn_rate: float | None = None  # users/s; None = the profile's spawn rate


@dataclass(frozen=True)
class Profile:
    name: str
    users: int
    duration_s: int
    stages: tuple[Stage, ...]
    spawn_rate: float | None = None  # None = ramp to peak in 10 % of the duration
    evaluate_steps: bool = False


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", users=3, duration_s=60, stages=(Stage(1.0, 1.0),), spawn_rate=3),
    # Ramp (spawn rate) to a plateau held to the end.
    "load": Profile("load", users=50, duration_s=300, stages=(Stage(1.0, 1.0),)),
    # Ten equal steps up to the peak; the first step that breaks a target ends the run.
    "stress": Profile(
        "stress",
        users=500,
        duration_s=600,
        stages=tuple(Stage(round((i + 1) / 10, 2), (i + 1) / 10) for i in range(10)),
        evaluate_steps=True,
    ),
    # Baseline, a sudden jump to the peak, and back: does the app recover?
    "spike": Profile(
        "spike",
        users=200,
        duration_s=300,
        stages=(Stage(0.3, 0.2), Stage(0.5, 1.0, spawn_rate=math.inf), Stage(1.0, 0.2)),
    ),
    # A long plateau: memory and latency drift; duration is the user's call.
    "soak": Profile("soak", users=50, duration_s=3600, stages=(Stage(1.0, 1.0),)),
}


@dataclass(frozen=True)
class ResolvedStage:
    end_s: float
    users: int
    spawn_rate: float


def resolve_stages(settings: LabSettings) -> list[ResolvedStage]:
    profile = PROFILES[settings.profile]
    users = settings.users or profile.users
    duration_s = settings.duration_s or profile.duration_s
    spawn_rate = settings.spawn_rate or profile.spawn_rate or max(1.0, users / (0.1 * duration_s))
    resolved = []
    for stage in profile.stages:
        stage_users = max(1, round(users * stage.users))
        rate = stage.spawn_rate if stage.spawn_rate is not None else spawn_rate
        resolved.append(
            ResolvedStage(stage.end * duration_s, stage_users, float(min(rate, max(users, 1))))
        )
    return resolved


@dataclass
class _Window:
    requests: int = 0
    failures: int = 0
    page: Counter[int] | None = None
    api: Counter[int] | None = None


def _snapshot(stats: Any, targets: RunTargets) -> _Window:
    window = _Window(page=Counter(), api=Counter())
    for (name, _method), entry in stats.entries.items():
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


def judge_step(
    before: _Window, after: _Window, seconds: float, users: int, targets: RunTargets
) -> StepVerdict:
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
    """The stage table of the selected profile (plugin sets `settings` at init)."""

    settings: LabSettings | None = None
    targets: RunTargets = RunTargets()
    on_breaking_point: Any = None  # callable(held: StepVerdict | None, broke: StepVerdict)

    def __init__(self) -> None:
        super().__init__()
        self._stages: list[ResolvedStage] | None = None
        self._stage_index = -1
        self._window: _Window | None = None
        self._window_started = 0.0
        self._held: StepVerdict | None = None
        self._finished = False

    def stages(self) -> list[ResolvedStage]:
        if self._stages is None:
            if self.settings is None:
                raise RuntimeError("LabShape used before the lab plugin configured it")
            self._stages = resolve_stages(self.settings)
        return self._stages

    def tick(self) -> tuple[int, float] | None:
        if self._finished:
            return None
        run_time = self.get_run_time()
        stages = self.stages()
        index = next((i for i, stage in enumerate(stages) if run_time < stage.end_s), None)
        evaluate = self.settings is not None and PROFILES[self.settings.profile].evaluate_steps
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
        stage = stages[index]
        return stage.users, stage.spawn_rate

    def _close_step(self, run_time: float) -> bool:
        """Judge the step that just ended; True when it broke a target."""
        runner = getattr(self, "runner", None)
        if runner is None:
            return False
        now = _snapshot(runner.stats, self.targets)
        if self._window is not None and self._stage_index >= 0:
            users = self.stages()[self._stage_index].users
            verdict = judge_step(
                self._window, now, run_time - self._window_started, users, self.targets
            )
            logger.info(
                "stress step %d: %d users, %.1f req/s, p95 page %s / API %s ms, failed %.2f%%",
                self._stage_index + 1,
                verdict.users,
                verdict.rps,
                verdict.page_p95_ms,
                verdict.api_p95_ms,
                verdict.failure_ratio * 100,
            )
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
        self._window = now
        self._window_started = run_time
        return False
