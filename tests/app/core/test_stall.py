"""LAB_FAULTS=stall: no view runs inside a pause window; off, nothing waits."""

from __future__ import annotations

import time

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from jewelry.core.stall import StallMiddleware, remaining_pause_s

EVERY_S, STALL_S = 0.5, 0.3  # a pause of 0.3 s every 0.5 s: most requests arrive in one


def test_remaining_pause() -> None:
    assert remaining_pause_s(100.0, 20, 1.5) == 1.5  # at the window's start
    assert remaining_pause_s(101.0, 20, 1.5) == 0.5
    assert remaining_pause_s(101.5, 20, 1.5) == 0.0  # just after it
    assert remaining_pause_s(119.0, 20, 1.5) == 0.0
    assert remaining_pause_s(119.0, 0, 1.5) == 0.0  # off


def _view_times(faults: frozenset[str], requests: int = 8) -> list[float]:
    """Wall-clock phase at which the view ran, for requests arriving over a few windows."""
    seen: list[float] = []

    def view(_request: object) -> HttpResponse:
        seen.append(time.time() % EVERY_S)
        return HttpResponse("ok")

    middleware = StallMiddleware(view)
    with override_settings(LAB_FAULTS=faults, LAB_STALL_EVERY_S=EVERY_S, LAB_STALL_S=STALL_S):
        for _ in range(requests):
            middleware(RequestFactory().get("/"))
            time.sleep(0.07)  # arrivals spread over the windows
    return seen


def test_with_the_stall_no_view_runs_inside_a_pause() -> None:
    phases = _view_times(frozenset({"stall"}))
    # time.sleep never returns early: every view ran at or after its window's end.
    assert all(phase >= STALL_S - 1e-3 for phase in phases), phases


@pytest.mark.parametrize("faults", [frozenset(), frozenset({"leak"})])
def test_without_the_stall_views_run_at_once_inside_windows_too(faults) -> None:
    phases = _view_times(faults, requests=20)
    # 20 arrivals 70 ms apart over 1.4 s: some land inside the 60 % of time that is "pause".
    assert any(phase < STALL_S - 0.01 for phase in phases), phases
