"""Which requests are slow: above their name's running quantile or among its slowest so far.

Tail sampling (lab/trace_sampling.py) keeps the trace of every request this judge calls
slow. "Among the slowest K so far" is what makes the report's "slowest requests traced"
whole by design: a request in a name's final top K was in the top K of the requests
before it, so it was kept when it happened (per Locust process; the run's top K is within
the union of every worker's). The running quantile keeps a broader sample of slow ones.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

# Histogram buckets 5 % wide: the quantile is known to within 5 %, enough for "slow".
_LOG_STEP = math.log(1.05)
_REFRESH_EVERY = 16  # requests of a name between two computations of its quantile


@dataclass
class _NameStats:
    count: int = 0
    top: list[float] = field(default_factory=list)  # min-heap of the K slowest so far
    buckets: dict[int, int] = field(default_factory=dict)
    threshold: float = math.inf


class SlowRequestJudge:
    def __init__(self, quantile: float, keep_slowest: int, min_requests: int) -> None:
        self.quantile = quantile
        self.keep_slowest = keep_slowest
        self.min_requests = min_requests
        self._names: dict[tuple[str, str], _NameStats] = {}

    def is_slow(self, method: str, name: str, response_time_ms: float) -> bool:
        """Record one request and say whether its trace should be kept for its time."""
        key = (method, name)
        stats = self._names.get(key)
        if stats is None:
            stats = self._names[key] = _NameStats()
        stats.count += 1
        entered = False
        if self.keep_slowest:
            top = stats.top
            if len(top) < self.keep_slowest:
                heapq.heappush(top, response_time_ms)
                entered = True
            elif response_time_ms >= top[0]:
                heapq.heapreplace(top, response_time_ms)
                entered = True
        bucket = math.floor(math.log(max(response_time_ms, 1e-3)) / _LOG_STEP)
        stats.buckets[bucket] = stats.buckets.get(bucket, 0) + 1
        if stats.count < self.min_requests:
            return True  # too few to know what is slow for this name yet
        if stats.count % _REFRESH_EVERY == 0 or stats.threshold == math.inf:
            stats.threshold = self._quantile(stats)
        return entered or response_time_ms > stats.threshold

    def _quantile(self, stats: _NameStats) -> float:
        wanted = self.quantile * stats.count
        seen = 0
        for bucket in sorted(stats.buckets):
            seen += stats.buckets[bucket]
            if seen >= wanted:
                # The bucket's upper edge: a cluster of equal times is never all "slow".
                return math.exp((bucket + 1) * _LOG_STEP)
        return math.inf
