"""Locustfile put before `locustfiles/` on one worker's `-f` (tests/locust/test_distributed.py).

Its `events.init` listener, registered before the lab's, holds `init` until this worker has
run users and made requests: the order a busy machine produced in the Compose lab, where the
master's spawn message reached the last worker to connect before its `init` had fired.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import events

WAIT_S = 60.0


@events.init.add_listener
def _hold_init_until_requests(environment: Any, runner: Any = None, **_kwargs: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while runner is not None and runner.stats.total.num_requests == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no request within {WAIT_S:.0f} s of connecting")
        gevent.sleep(0.1)
