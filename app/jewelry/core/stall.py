"""The `stall` fault: the whole app pauses for LAB_STALL_S seconds every LAB_STALL_EVERY_S.

A stop-the-world pause (a long GC, a swapped-out process, a ^Z as in wrk2's demonstration):
the pause windows are fixed on the wall clock, [n x every, n x every + stall), so every worker
and thread of every process pauses at once, and a request that arrives during a window waits
until its end. The same windows are computed by the tests from the same two settings. Off
unless `LAB_FAULTS` contains `stall`; defaults 1.5 s every 20 s (7.5 % of the time).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from jewelry.core import faults


def remaining_pause_s(now: float, every_s: float, stall_s: float) -> float:
    """Seconds until the pause window that `now` falls in ends (0 outside a window)."""
    if every_s <= 0 or stall_s <= 0:
        return 0.0
    phase = now % every_s
    return stall_s - phase if phase < stall_s else 0.0


class StallMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if faults.enabled("stall"):
            pause = remaining_pause_s(time.time(), settings.LAB_STALL_EVERY_S, settings.LAB_STALL_S)
            if pause > 0:
                time.sleep(pause)
        return self.get_response(request)
