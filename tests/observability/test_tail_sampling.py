"""The archive's tail sampler on real OTLP protobuf: kept, held, released, dropped, bounded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from lab.trace_sampling import in_ratio, ratio_bound
from observability.trace_archive.metrics import ArchiveMetrics
from observability.trace_archive.tail import LOCUST_RESOURCE_ATTRIBUTE, TailSampler
from tests.observability.archive_process import read_spans, start_archive

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


def test_the_real_archive_keeps_the_ratio_and_locust_kept_traces_and_counts_the_policy(
    tmp_path: Path,
) -> None:
    """The archive process with tail sampling on: 2,000 app traces, 20 of them kept by a
    Locust span; a 64 KiB hold and a 1 s hold time; drops are the policy's, none is lost."""
    runs = tmp_path / "runs"
    runs.mkdir()
    archive = start_archive(
        runs, tmp_path / "archive.log",
        "--tail", "1", "--tail-ratio", str(RATIO), "--tail-hold-seconds", "1",
        "--tail-max-bytes", "65536", "--flush-seconds", "0.2",
    )  # fmt: skip
    try:
        ids = [os.urandom(16) for _ in range(2000)]
        bound = ratio_bound(RATIO)
        in_the_ratio = {t for t in ids if in_ratio(int.from_bytes(t[8:], "big"), bound)}
        outside = [t for t in ids if t not in in_the_ratio]
        slow = set(outside[:20])
        for start in range(0, len(ids), 200):
            body = request(*[(t, 1) for t in ids[start : start + 200]])
            for span in body.resource_spans[0].scope_spans[0].spans:
                span.attributes.append(_run_attribute())
            posted = requests.post(
                archive.traces_url,
                data=body.SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=10,
            )
            assert posted.status_code == 200
        verdicts = request(*[(t, 2) for t in slow], locust=True)
        for span in verdicts.resource_spans[0].scope_spans[0].spans:
            span.attributes.append(_run_attribute())
        assert (
            requests.post(
                archive.traces_url,
                data=verdicts.SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=10,
            ).status_code
            == 200
        )

        def settled() -> bool:
            m = archive.metrics()
            return m["trace_archive_tail_held_bytes"] == 0 and m[
                "trace_archive_spans_written_total"
            ] >= len(in_the_ratio) + len(slow)

        deadline = time.monotonic() + 30
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.2)
        metrics = archive.metrics()
    finally:
        assert archive.stop() == 0
    assert metrics["trace_archive_tail_capacity_bytes"] == 65536
    assert metrics["trace_archive_spans_dropped_total"] == 0  # nothing lost
    assert metrics["trace_archive_tail_traces_evicted_total"] > 0  # 64 KiB cannot hold them all
    rows = read_spans(runs)
    written = {bytes.fromhex(str(r["trace_id"])) for r in rows}
    assert in_the_ratio <= written
    assert written - in_the_ratio <= slow
    # Kept by Locust: its span always; the app span too unless evicted before the verdict.
    assert all(t in written for t in slow)
    dropped = metrics["trace_archive_tail_spans_dropped_total"]
    assert dropped == len(ids) - len(in_the_ratio) - (len(rows) - len(in_the_ratio) - len(slow))
    # One held span per trace here: traces dropped or evicted = spans dropped.
    assert (
        metrics["trace_archive_tail_traces_dropped_total"]
        + metrics["trace_archive_tail_traces_evicted_total"]
        == dropped
    )


def _run_attribute() -> KeyValue:
    attribute = KeyValue(key="lab.run_id")
    attribute.value.string_value = "tail-run"
    return attribute
