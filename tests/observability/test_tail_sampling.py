"""The archive's tail sampler on real OTLP protobuf: kept, held, released, dropped, bounded."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from lab.trace_sampling import in_ratio, ratio_bound
from observability.trace_archive.metrics import ArchiveMetrics
from observability.trace_archive.tail import LOCUST_RESOURCE_ATTRIBUTE, TailSampler

RATIO = 0.1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trace_id(n: int, in_the_ratio: bool) -> bytes:
    """A trace id whose low 64 bits fall inside (or outside) the ratio's bound."""
    bound = ratio_bound(RATIO)
    low = (n % bound) if in_the_ratio else bound + n
    assert in_ratio(low, bound) is in_the_ratio
    return n.to_bytes(8, "big") + low.to_bytes(8, "big")


def request(*spans: tuple[bytes, int], locust: bool = False) -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    resource_spans = out.resource_spans.add()
    service = KeyValue(key="service.name")
    service.value.string_value = "locust" if locust else "jewelry-app"
    resource_spans.resource.attributes.append(service)
    if locust:
        worker = KeyValue(key=LOCUST_RESOURCE_ATTRIBUTE)
        worker.value.string_value = "local"
        resource_spans.resource.attributes.append(worker)
    scope = resource_spans.scope_spans.add()
    for tid, span_no in spans:
        span = scope.spans.add()
        span.trace_id = tid
        span.span_id = span_no.to_bytes(8, "big")
        span.name = f"span {span_no}"
    return out


def written(out: ExportTraceServiceRequest) -> list[tuple[bytes, str, str]]:
    return [
        (span.trace_id, span.name, r.resource.attributes[0].value.string_value)
        for r in out.resource_spans
        for s in r.scope_spans
        for span in s.spans
    ]


def sampler(clock: Clock, max_bytes: int = 1 << 20) -> tuple[TailSampler, ArchiveMetrics]:
    metrics = ArchiveMetrics()
    return TailSampler(
        metrics, ratio=RATIO, hold_seconds=30, max_bytes=max_bytes, clock=clock
    ), metrics


def test_traces_in_the_ratio_are_written_at_once_others_wait_for_a_locust_span() -> None:
    clock = Clock()
    tail, metrics = sampler(clock)
    kept, slow = trace_id(1, True), trace_id(2, False)
    out = tail.filter(request((kept, 1), (slow, 2), (slow, 3)))
    assert written(out) == [(kept, "span 1", "jewelry-app")]
    assert tail.held_bytes > 0
    # Locust's spans of the slow trace arrive: they and the held app spans are written.
    out = tail.filter(request((slow, 4), locust=True))
    assert sorted(written(out)) == [
        (slow, "span 2", "jewelry-app"),
        (slow, "span 3", "jewelry-app"),
        (slow, "span 4", "locust"),
    ]
    assert tail.held_bytes == 0
    # A late app span of a kept trace follows the verdict.
    assert written(tail.filter(request((slow, 5)))) == [(slow, "span 5", "jewelry-app")]
    assert metrics.tail_traces_kept == 2
    assert metrics.tail_spans_dropped == 0


def test_a_trace_without_a_locust_span_is_dropped_after_the_hold_and_counted() -> None:
    clock = Clock()
    tail, metrics = sampler(clock)
    fast = trace_id(3, False)
    assert written(tail.filter(request((fast, 1), (fast, 2)))) == []
    clock.now += 29
    assert tail.expire() == 0
    clock.now += 2
    assert tail.expire() == 2
    assert (metrics.tail_traces_dropped, metrics.tail_spans_dropped) == (1, 2)
    assert tail.held_bytes == 0
    # The verdict comes too late: only Locust's own span is written.
    assert written(tail.filter(request((fast, 3), locust=True))) == [(fast, "span 3", "locust")]
    assert "trace_archive_tail_spans_dropped_total 2" in metrics.render()


def test_the_hold_buffer_is_bounded_in_bytes_oldest_trace_first() -> None:
    clock = Clock()
    tail, metrics = sampler(clock, max_bytes=2000)
    for n in range(50):
        tail.filter(request((trace_id(100 + n, False), 1)))
        assert tail.held_bytes <= 2000
    assert metrics.tail_traces_evicted > 0
    # The newest held trace survived the evictions and is released by its verdict.
    newest = trace_id(149, False)
    assert (newest, "span 1", "jewelry-app") in written(
        tail.filter(request((newest, 2), locust=True))
    )
    oldest = trace_id(100, False)
    assert written(tail.filter(request((oldest, 2), locust=True))) == [(oldest, "span 2", "locust")]
