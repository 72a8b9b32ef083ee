"""Locust's lightweight spans: what reaches the trace backend, decoded with opentelemetry.proto.

Plain functions stand in for Locust's client and user (no gevent, no network): the spans
are sent to a list, and each batch is decoded as the OTLP/HTTP endpoint would decode it.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from lab.run_token import run_token
from locustfiles._otlp import KIND_CLIENT, FinishedSpan, encode_spans
from locustfiles._tracing import LabTracing, current_trace_id

RUN_ID = "20260101-000000-smoke-0a1b"


class ShopUser:
    """What `LabTracing` needs of a Locust user."""

    def span_attributes(self) -> dict[str, Any]:
        return {"lab.scenario": "ShopUser", "lab.tenant_id": 7, "lab.run_id": RUN_ID}


class Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def attributes(pb_attributes: Any) -> dict[str, Any]:
    return {item.key: getattr(item.value, item.value.WhichOneof("value")) for item in pb_attributes}


def traced_session(
    ratio: float, tail: bool = False
) -> tuple[LabTracing, list[bytes], list[dict[str, Any]], Any]:
    batches: list[bytes] = []
    sent: list[dict[str, Any]] = []  # headers and trace id the record would see, per request

    def client_request(method: str, url: str, **kwargs: Any) -> Response:
        sent.append({"headers": kwargs["headers"], "record_trace_id": current_trace_id()})
        return Response(500 if url.endswith("/broken") else 200)

    def send(data: bytes) -> bool:
        batches.append(data)
        return True

    tracing = LabTracing(RUN_ID, ratio, worker_id="worker-1", sender=send, tail=tail)
    request = tracing.wrap_request(client_request, ShopUser().span_attributes)
    return tracing, batches, sent, request


def test_a_sampled_task_is_one_trace_task_span_over_client_spans() -> None:
    tracing, batches, sent, request = traced_session(1.0)

    def browse(user: ShopUser) -> None:
        request("GET", "/inventory/12/", name="/inventory/[id]", headers={"Accept": "text/html"})
        request("POST", "/broken")

    tracing.run_task(browse, ShopUser())
    tracing.shutdown()

    assert len(batches) == 1
    assert tracing.dropped_spans == 0
    decoded = ExportTraceServiceRequest()
    decoded.ParseFromString(batches[0])
    [resource_spans] = decoded.resource_spans
    resource = attributes(resource_spans.resource.attributes)
    assert resource["service.name"] == "locust"
    assert resource["locust.worker_id"] == "worker-1"
    [scope_spans] = resource_spans.scope_spans
    spans = {span.name: span for span in scope_spans.spans}
    assert set(spans) == {"ShopUser.browse", "GET /inventory/[id]", "POST /broken"}

    task = spans["ShopUser.browse"]
    assert task.kind == Span.SpanKind.SPAN_KIND_INTERNAL
    assert task.parent_span_id == b""
    assert attributes(task.attributes) == {
        "lab.scenario": "ShopUser",
        "lab.tenant_id": 7,
        "lab.run_id": RUN_ID,
        "lab.task": "browse",
    }
    page, broken = spans["GET /inventory/[id]"], spans["POST /broken"]
    for client in (page, broken):
        assert client.kind == Span.SpanKind.SPAN_KIND_CLIENT
        assert client.trace_id == task.trace_id
        assert len(client.trace_id) == 16
        assert client.parent_span_id == task.span_id
        assert task.start_time_unix_nano <= client.start_time_unix_nano
        assert client.start_time_unix_nano <= client.end_time_unix_nano <= task.end_time_unix_nano
    assert attributes(page.attributes) == {
        "lab.scenario": "ShopUser",
        "lab.tenant_id": 7,
        "lab.run_id": RUN_ID,
        "http.request.method": "GET",
        "url.path": "/inventory/12/",
        "lab.request_name": "/inventory/[id]",
        "http.response.status_code": 200,
    }
    assert page.status.code == Status.StatusCode.STATUS_CODE_UNSET
    assert broken.status.code == Status.StatusCode.STATUS_CODE_ERROR
    assert attributes(broken.attributes)["http.response.status_code"] == 500

    # On the wire: each request names its own client span as the parent, flag sampled.
    trace_hex = task.trace_id.hex()
    assert [s["headers"]["traceparent"] for s in sent] == [
        f"00-{trace_hex}-{page.span_id.hex()}-01",
        f"00-{trace_hex}-{broken.span_id.hex()}-01",
    ]
    assert sent[0]["headers"]["Accept"] == "text/html"  # the caller's headers are kept
    # The run's token (lab/run_token.py, keyed by the harness's LAB_RUN_TOKEN_KEY) proves
    # to the app that the request comes from the lab's Locust.
    token = run_token(RUN_ID, os.environ["LAB_RUN_TOKEN_KEY"].encode())
    assert all(
        s["headers"]["baggage"]
        == f"lab.run_id={RUN_ID},synthetic_request=true,lab.run_token={token}"
        for s in sent
    )
    assert all(s["record_trace_id"] == trace_hex for s in sent)
    assert current_trace_id() is None  # the task's scope ended with it


def test_an_unsampled_task_propagates_its_trace_flag_off_and_records_nothing() -> None:
    tracing, batches, sent, request = traced_session(0.0)
    tracing.run_task(lambda user: [request("GET", "/a"), request("GET", "/b")], ShopUser())
    tracing.shutdown()

    assert batches == []
    first, second = (s["headers"]["traceparent"] for s in sent)
    assert first == second  # both requests are in the task's one trace
    version, trace_id, span_id, flags = first.split("-")
    assert (version, flags) == ("00", "00")
    assert len(trace_id) == 32
    assert len(span_id) == 16
    assert int(trace_id, 16) != 0
    assert int(span_id, 16) != 0
    assert all(s["record_trace_id"] is None for s in sent)


def test_undelivered_and_overflowing_spans_are_counted_as_dropped() -> None:
    tracing = LabTracing(RUN_ID, 1.0, sender=lambda data: False, tail=False)
    tracing.queue.max_queue_size = 3
    request = tracing.wrap_request(lambda method, url, **kwargs: Response(200), dict)
    for _ in range(5):  # 5 requests outside any task: each its own sampled root span
        request("GET", "/")
    tracing.shutdown()
    assert tracing.dropped_spans == 5  # 2 overflowed, 3 failed to send


def test_encoding_keeps_types_and_skips_missing_values() -> None:
    span = FinishedSpan(1, 2, 3, "GET /", KIND_CLIENT, 10, 20, {"f": 0.5, "b": True, "n": None})
    decoded = ExportTraceServiceRequest()
    decoded.ParseFromString(encode_spans([span], {"service.name": "locust"}))
    [encoded] = decoded.resource_spans[0].scope_spans[0].spans
    assert attributes(encoded.attributes) == {"f": 0.5, "b": True}
    assert encoded.trace_id == (1).to_bytes(16, "big")
    assert encoded.parent_span_id == (3).to_bytes(8, "big")
    assert decoded.resource_spans[0].scope_spans[0].scope.name == "locustfiles"


def test_tail_sampling_exports_only_failed_slow_or_in_ratio_tasks_and_traces_every_request() -> (
    None
):
    tracing, batches, sent, request = traced_session(0.0, tail=True)

    def fetch(user: ShopUser, ms: float, failed: bool = False) -> None:
        request("GET", "/a", name="/a")
        # Locust's request event for it (a check failure arrives only here).
        tracing.on_request("GET", "/a", ms, RuntimeError("check") if failed else None)

    for _ in range(200):  # warm-up, then the judge knows what is fast for /a
        tracing.run_task(fetch, ShopUser(), 10.0)
    before = tracing.tasks_kept
    tracing.run_task(fetch, ShopUser(), 5.0)  # fast: discarded at ratio 0
    assert tracing.tasks_kept == before
    tracing.run_task(fetch, ShopUser(), 5.0, True)  # failed: kept
    tracing.run_task(fetch, ShopUser(), 500.0)  # slow: kept
    assert tracing.tasks_kept == before + 2
    tracing.shutdown()

    # Every request asks the app to trace it (flag 01) and names its trace in the record.
    assert all(s["headers"]["traceparent"].endswith("-01") for s in sent)
    assert all(s["record_trace_id"] for s in sent)
    exported = ExportTraceServiceRequest()
    for batch in batches:
        exported.MergeFromString(batch)
    traces = {
        span.trace_id.hex()
        for r in exported.resource_spans
        for s in r.scope_spans
        for span in s.spans
    }
    assert len(traces) == tracing.tasks_kept
    assert sent[-3]["record_trace_id"] not in traces  # the fast one
    assert {sent[-2]["record_trace_id"], sent[-1]["record_trace_id"]} <= traces
