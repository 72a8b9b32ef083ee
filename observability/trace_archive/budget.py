"""A byte budget with a lane kept free for small requests.

Large requests (a flood of big bodies, hostile or not) may use only the budget minus its
reserve; small ones, the size the lab's exporters send (the SDKs' and Jaeger's 512-span
batches are well under 1 MiB), may use all of it. So a flood of large exports cannot take
the room an ordinary exporter needs: it keeps getting 200 while the large ones wait or get
a retryable 503.
"""

from __future__ import annotations

import threading
import time

# A request larger than this (bytes of protobuf) or with more spans is "large".
SMALL_REQUEST_BYTES = 1024 * 1024
SMALL_REQUEST_SPANS = 2_000
# Share of a budget that only small requests may use.
RESERVED_FOR_SMALL = 0.25


def is_small(size: int, spans: int = 0) -> bool:
    return size <= SMALL_REQUEST_BYTES and spans <= SMALL_REQUEST_SPANS


class ByteBudget:
    """Bytes held by requests in flight (reading, decompressing, parsing)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.large_limit = int(total * (1 - RESERVED_FOR_SMALL))
        self.used = 0
        self._condition = threading.Condition()

    def acquire(self, amount: int, timeout: float) -> int | None:
        """Reserve `amount` bytes (capped to what a large request may hold); None on timeout.

        Returns the amount reserved, to hand back to release().
        """
        limit = self.total if is_small(amount) else self.large_limit
        amount = min(amount, limit)
        deadline = time.monotonic() + timeout
        with self._condition:
            while self.used + amount > limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._condition.wait(left)
            self.used += amount
            return amount

    def release(self, amount: int) -> None:
        with self._condition:
            self.used -= amount
            self._condition.notify_all()
