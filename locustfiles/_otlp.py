"""Locust's own spans as plain tuples, encoded straight into one OTLP request.

Why not OpenTelemetry SDK spans: creating and ending an SDK span costs tens of
microseconds (locks, attribute validation, span processor fan-out), and the
SDK's OTLP encoder as much again per span. Locust only ever records two kinds
of spans (a task, its requests), all finished and immutable, so a tuple per
span and one protobuf message per batch is enough, and keeps a load generator
core generating load.

Sending reuses the OTLP/HTTP exporter's HTTP client, so endpoint, headers,
timeout, compression, TLS and retries follow the standard
`OTEL_EXPORTER_OTLP_*` variables exactly as they do for the app.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus

logger = logging.getLogger(__name__)

KIND_INTERNAL = PbSpan.SpanKind.SPAN_KIND_INTERNAL
KIND_CLIENT = PbSpan.SpanKind.SPAN_KIND_CLIENT
STATUS_UNSET = PbStatus.StatusCode.STATUS_CODE_UNSET
STATUS_ERROR = PbStatus.StatusCode.STATUS_CODE_ERROR
SCOPE_NAME = "locustfiles"

# Sends one serialized ExportTraceServiceRequest; True when the backend took it.
Sender = Callable[[bytes], bool]


class FinishedSpan(NamedTuple):
    """One ended span, as cheap to build as a tuple (it is one)."""

    trace_id: int
    span_id: int
    parent_span_id: int  # 0: a root span
    name: str
    kind: int  # KIND_INTERNAL or KIND_CLIENT
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    status_code: int = STATUS_UNSET
    status_message: str = ""


def _add_attributes(target: Any, attributes: Mapping[str, Any]) -> None:
    # Setting fields in place is twice as fast as building AnyValue messages to copy in.
    add = target.add
    for key, value in attributes.items():
        if value is None:
            continue
        item = add()
        item.key = key
        if isinstance(value, str):
            item.value.string_value = value
        elif isinstance(value, bool):  # before int: True is an int too
            item.value.bool_value = value
        elif isinstance(value, int):
            item.value.int_value = value
        elif isinstance(value, float):
            item.value.double_value = value
        else:
            item.value.string_value = str(value)


def encode_spans(
    spans: Iterable[FinishedSpan],
    resource: Mapping[str, Any],
    scope_name: str = SCOPE_NAME,
) -> bytes:
    """One ExportTraceServiceRequest (one resource, one scope) holding `spans`."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    _add_attributes(resource_spans.resource.attributes, resource)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope_name
    add_span = scope_spans.spans.add
    for span in spans:
        encoded = add_span(
            trace_id=span.trace_id.to_bytes(16, "big"),
            span_id=span.span_id.to_bytes(8, "big"),
            name=span.name,
            kind=span.kind,  # type: ignore[arg-type]
            start_time_unix_nano=span.start_ns,
            end_time_unix_nano=span.end_ns,
        )
        if span.parent_span_id:
            encoded.parent_span_id = span.parent_span_id.to_bytes(8, "big")
        _add_attributes(encoded.attributes, span.attributes)
        if span.status_code != STATUS_UNSET:
            encoded.status.code = span.status_code  # type: ignore[assignment]
            encoded.status.message = span.status_message
    return request.SerializeToString()


def otlp_http_sender() -> Sender:
    """Posts to the OTLP/HTTP traces endpoint the `OTEL_EXPORTER_OTLP_*` variables name.

    The SDK's OTLPSpanExporter resolves endpoint (`…_TRACES_ENDPOINT`, or
    `…_ENDPOINT` + `/v1/traces`), headers, timeout, compression and TLS; its HTTP
    client takes serialized bytes and retries within the timeout. Only its
    encoder (which wants SDK spans) is bypassed.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter()
    client = getattr(exporter, "_client", None)
    if client is None or not hasattr(client, "export"):  # a changed exporter: fail loudly
        raise RuntimeError(
            "opentelemetry-exporter-otlp-proto-http has no _client.export(bytes); "
            "pin the version in requirements/otel.txt"
        )

    def send(data: bytes) -> bool:
        return bool(client.export(data).success)

    send.shutdown = client.shutdown  # type: ignore[attr-defined]
    return send


def console_sender() -> Sender:
    """`OTEL_TRACES_EXPORTER=console`: each batch as OTLP JSON on stdout."""
    from google.protobuf.json_format import MessageToJson

    def send(data: bytes) -> bool:
        request = ExportTraceServiceRequest()
        request.ParseFromString(data)
        print(MessageToJson(request), flush=True)
        return True

    return send


def sender_from_environ() -> Sender | None:
    """OTLP/HTTP when an endpoint is configured (as the app does); else propagate only."""
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if choice in ("", "none"):
        return None
    if choice == "console":
        return console_sender()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if not endpoint:
        return None
    if choice != "otlp":
        logger.warning("OTEL_TRACES_EXPORTER=%s is not supported here; using otlp", choice)
    return otlp_http_sender()
