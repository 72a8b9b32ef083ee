"""Drives the real LabShape through closed stress steps with Locust's real RequestStats.

Run as a subprocess by test_stress_steps.py (importing Locust monkey-patches with gevent).
Prints one JSON object: the verdict of every judged step, and the breaking point.
"""

from __future__ import annotations

import locust  # noqa: F401  - first: gevent monkey-patching

# isort: split
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from locust.stats import RequestStats

from locustfiles._settings import LabSettings
from locustfiles._shapes import LabShape
from locustfiles._targets import RunTargets

TOKEN, API = "/api/auth/token/", "/api/inventory/"


def shape_at(clock: list[float], ready: list[int]) -> LabShape:
    LabShape.settings = LabSettings(
        profile="stress", users=10, spawn_rate=10.0, duration_s=100, scenario="", run_id="",
        runs_dir=Path("."), trace_sample_ratio=0.0, metrics_port=-1, metrics_host="",
        record_flush_seconds=2.0,
    )  # fmt: skip
    LabShape.targets = RunTargets(page_p95_ms=2000.0, api_p95_ms=500.0)
    LabShape.users_ready = staticmethod(lambda: ready[0])
    shape = LabShape()
    shape.runner = SimpleNamespace(stats=RequestStats(), environment=None)
    shape.get_run_time = lambda: clock[0]  # type: ignore[method-assign]
    return shape


def main() -> None:
    steps: list[dict] = []
    broke: list[dict] = []
    LabShape.on_step = staticmethod(lambda index, v: steps.append({"index": index, **v.__dict__}))
    LabShape.on_breaking_point = staticmethod(lambda held, b: broke.append(b.__dict__))
    clock, ready = [0.0], [0]
    shape = shape_at(clock, ready)
    stats = shape.runner.stats

    def at(t: float) -> None:
        clock[0] = t
        shape.tick()

    at(0)  # step 1: 1 user, signing in (Argon2 under load: 3 s, over the 500 ms API target)
    stats.log_request("POST", TOKEN, 3000, 10)
    at(3)  # not signed in yet: no steady part yet; requests queued behind the sign-in
    stats.log_request("GET", API, 1500, 10)
    ready[0] = 1
    at(4)  # signed in: the steady part starts
    for _ in range(50):
        stats.log_request("GET", API, 20, 10)
    at(10)  # step 2 (2 users): step 1 judged on its steady part
    stats.log_request("POST", TOKEN, 3000, 10)
    ready[0] = 2
    at(11)
    for _ in range(50):
        stats.log_request("GET", API, 900, 10)  # the app itself is now too slow
    at(20)  # step 2 judged: broken by its steady API p95
    # A third shape: its users never all sign in within the step.
    clock2, ready2 = [0.0], [0]
    other = shape_at(clock2, ready2)
    clock2[0] = 0
    other.tick()
    other.runner.stats.log_request("POST", TOKEN, 3000, 10)
    clock2[0] = 10
    other.tick()
    json.dump({"steps": steps, "broke": broke}, sys.stdout)


if __name__ == "__main__":
    main()
