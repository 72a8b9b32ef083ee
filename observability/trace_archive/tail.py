"""Tail sampling in the archive: hold a trace's spans until its Locust span says "keep".

Locust exports its spans only for the tasks it keeps (lab/trace_sampling.py), so a Locust
span in a trace is the keep verdict. A span is written at once when its trace id is in the
ratio (the same TraceIdRatioBased rule Locust uses) or its trace already has a verdict;
a Locust span gives its trace the verdict and releases the spans held for it; any other
span is held. Held spans are bounded in time (a trace whose verdict does not come within
`hold_seconds` is dropped) and in bytes (past `max_bytes` the oldest held traces are
dropped), both counted as the policy's drops, apart from the "lost" spans of a full queue.
Verdicts are remembered for `hold_seconds` after the last span of their trace, so the
app's spans that arrive after Locust's (its exporter batches for up to 5 s) are kept too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lab.trace_sampling import in_ratio, ratio_bound
from observability.trace_archive.metrics import ArchiveMetrics

# Resource attribute every Locust exporter of the lab sets (locustfiles/_tracing.py).
LOCUST_RESOURCE_ATTRIBUTE = "locust.worker_id"
# Verdicts remembered at most (oldest forgotten first): a trace id and a float each.
MAX_VERDICTS = 200_000


@dataclass
class _Held:
    deadline: float
    size: int = 0
    spans: list[tuple[bytes, bytes]] = field(default_factory=list)  # (resource, span) bytes


class TailSampler:
    def __init__(
        self,
        metrics: ArchiveMetrics,
        *,
        ratio: float,
        hold_seconds: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._bound = ratio_bound(ratio)
        self._hold_seconds = hold_seconds
        self._max_bytes = max_bytes
        self._clock = clock
        self._held: OrderedDict[bytes, _Held] = OrderedDict()  # oldest first
        self._held_bytes = 0
        self._verdicts: OrderedDict[bytes, float] = OrderedDict()  # trace id -> forget after
        metrics.tail_capacity_bytes = max_bytes

    @property
    def held_bytes(self) -> int:
        return self._held_bytes

    def filter(self, request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
        """The spans of `request` to write now, plus held spans their verdicts release."""
        now = self._clock()
        out = ExportTraceServiceRequest()
        released: list[tuple[bytes, bytes]] = []
        for resource_spans in request.resource_spans:
            from_locust = any(
                a.key == LOCUST_RESOURCE_ATTRIBUTE for a in resource_spans.resource.attributes
            )
            target = None
            resource_bytes: bytes | None = None
            for scope_spans in resource_spans.scope_spans:
                target_scope = None
                for span in scope_spans.spans:
                    trace_id = span.trace_id
                    keep = (
                        from_locust
                        or trace_id in self._verdicts
                        or in_ratio(int.from_bytes(trace_id[8:16], "big"), self._bound)
                    )
                    if keep:
                        if trace_id not in self._verdicts:
                            self._metrics.add("tail_traces_kept")
                        self._verdicts[trace_id] = now + self._hold_seconds
                        self._verdicts.move_to_end(trace_id)
                        held = self._held.pop(trace_id, None)
                        if held is not None:
                            self._held_bytes -= held.size
                            released.extend(held.spans)
                        if target_scope is None:
                            if target is None:
                                target = out.resource_spans.add()
                                target.resource.CopyFrom(resource_spans.resource)
                            target_scope = target.scope_spans.add()
                            target_scope.scope.CopyFrom(scope_spans.scope)
                        target_scope.spans.append(span)
                        continue
                    if resource_bytes is None:
                        resource_bytes = resource_spans.resource.SerializeToString()
                    self._hold(trace_id, resource_bytes, span.SerializeToString(), now)
        self._append_released(out, released)
        self._forget_verdicts(now)
        self._evict_over_budget()
        self._metrics.tail_held_bytes = self._held_bytes
        return out

    def expire(self) -> int:
        """Drop held traces whose verdict did not come in time; returns the spans dropped."""
        now = self._clock()
        dropped = 0
        while self._held:
            trace_id, held = next(iter(self._held.items()))
            if held.deadline > now:
                break
            dropped += self._drop(trace_id, "tail_traces_dropped")
        self._forget_verdicts(now)
        self._metrics.tail_held_bytes = self._held_bytes
        return dropped

    def drop_all(self) -> int:
        """At shutdown: held traces will get no verdict any more."""
        dropped = 0
        while self._held:
            dropped += self._drop(next(iter(self._held)), "tail_traces_dropped")
        self._metrics.tail_held_bytes = 0
        return dropped

    def _hold(self, trace_id: bytes, resource: bytes, span: bytes, now: float) -> None:
        held = self._held.get(trace_id)
        if held is None:
            held = self._held[trace_id] = _Held(deadline=now + self._hold_seconds)
        # The resource bytes are shared by the spans of one request; counted per span anyway,
        # so the bound errs on the safe side.
        size = len(resource) + len(span) + 64
        held.spans.append((resource, span))
        held.size += size
        self._held_bytes += size
        self._metrics.add("tail_spans_held")

    def _drop(self, trace_id: bytes, counter: str) -> int:
        held = self._held.pop(trace_id)
        self._held_bytes -= held.size
        self._metrics.add(counter)
        self._metrics.add("tail_spans_dropped", len(held.spans))
        return len(held.spans)

    def _evict_over_budget(self) -> None:
        while self._held_bytes > self._max_bytes and self._held:
            self._drop(next(iter(self._held)), "tail_traces_evicted")

    def _forget_verdicts(self, now: float) -> None:
        verdicts = self._verdicts
        while verdicts:
            trace_id, forget_after = next(iter(verdicts.items()))
            if forget_after > now and len(verdicts) <= MAX_VERDICTS:
                break
            del verdicts[trace_id]

    @staticmethod
    def _append_released(out: ExportTraceServiceRequest, spans: list[tuple[bytes, bytes]]) -> None:
        by_resource: dict[bytes, object] = {}
        for resource, span in spans:
            scope = by_resource.get(resource)
            if scope is None:
                resource_spans = out.resource_spans.add()
                resource_spans.resource.ParseFromString(resource)
                scope = by_resource[resource] = resource_spans.scope_spans.add()
            scope.spans.add().ParseFromString(span)  # type: ignore[attr-defined]
