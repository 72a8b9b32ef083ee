"""Locustfile put before `locustfiles/` on one worker's `-f` (tests/locust/test_remote_workers.py).

It makes that worker die mid-upload, for real: once it has delivered a first complete part,
it sends the first chunk of its next part, lets ZeroMQ put it on the wire, then kills itself
with SIGKILL (no `test_stop`, no `quitting`, no goodbye to the master). The master holds a
part that never completes.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import gevent

from locustfiles import _delivery

_send_chunk = _delivery.PartSender._send_chunk
DIED_MARK = "dying_upload_worker: killing myself mid-upload"


def _die_after_first_chunk_of_second_part(
    self: _delivery.PartSender, seq: int, index: int, count: int, *args: Any
) -> None:
    _send_chunk(self, seq, index, count, *args)
    if self.record == "requests" and seq >= 1 and index == 0 and count > 1:
        print(f"{DIED_MARK} (part {seq}, chunk 1 of {count} sent)", flush=True)
        gevent.sleep(1.0)  # the chunk leaves the ZeroMQ queue
        os.kill(os.getpid(), signal.SIGKILL)


_delivery.PartSender._send_chunk = _die_after_first_chunk_of_second_part  # type: ignore[method-assign]
