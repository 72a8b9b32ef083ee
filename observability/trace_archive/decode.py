"""OTLP/HTTP request bodies (protobuf or JSON, optionally gzip) to ExportTraceServiceRequest.

Every limit is checked before the expensive step it protects: the decompressed size before
the body is inflated further, the span count on the protobuf wire (a few bytes per empty
span would otherwise become millions of parsed messages) and the number of JSON objects
before `json.loads` builds them.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# Defaults of the archive's limits (config.py makes them settings). An exporter of the lab
# sends at most a few thousand spans of about 1 KiB per request (the SDKs' and Jaeger's
# batches are 512), so these leave a wide margin while keeping a request's memory small.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_SPANS_PER_REQUEST = 10_000
# JSON objects and arrays a body may open: every span of a real export has a handful
# (attributes, their values, events), so this is generous; each costs Python memory.
JSON_CONTAINERS_PER_SPAN = 40

PROTOBUF = "protobuf"
JSON = "json"


class BadPayload(ValueError):
    """The body cannot be decoded: a permanent failure (HTTP 400, not retried)."""


class PayloadTooLarge(ValueError):
    """The body exceeds a size or span-count limit (HTTP 413, not retried)."""


class UnsupportedMediaType(ValueError):
    """Neither protobuf nor JSON (HTTP 415)."""


def encoding_of(content_type: str) -> str:
    """Map a Content-Type header to PROTOBUF or JSON."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in ("application/x-protobuf", "application/protobuf"):
        return PROTOBUF
    if media_type == "application/json":
        return JSON
    raise UnsupportedMediaType(
        f"unsupported Content-Type {content_type!r}: use application/x-protobuf or application/json"
    )


def decompress(body: bytes, content_encoding: str, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"unsupported Content-Encoding {content_encoding!r}: use gzip")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadPayload(f"gzip body is corrupt: {exc}") from exc
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"decompressed body exceeds {max_bytes} bytes")
    return data


def decode_request(
    body: bytes, encoding: str, max_spans: int = MAX_SPANS_PER_REQUEST
) -> ExportTraceServiceRequest:
    """Parse a body of at most `max_spans` spans; BadPayload (400) or PayloadTooLarge (413)."""
    request = ExportTraceServiceRequest()
    if encoding == PROTOBUF:
        count_wire_spans(body, max_spans)
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadPayload(f"protobuf body is not an ExportTraceServiceRequest: {exc}") from exc
        return request
    containers = body.count(b"{") + body.count(b"[")
    if containers > max_spans * JSON_CONTAINERS_PER_SPAN:
        raise PayloadTooLarge(
            f"JSON body opens {containers} objects and arrays: more than {max_spans} spans "
            f"can need (send fewer spans per request)"
        )
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPayload(f"JSON body does not parse: {exc}") from exc
    except RecursionError:
        raise BadPayload("JSON body is nested too deeply") from None
    if not isinstance(document, dict):
        raise BadPayload("JSON body must be an object with a resourceSpans array")
    _hex_ids_to_base64(document)
    try:
        # Unknown fields must be ignored (OTLP/JSON); enums arrive as integers and
        # 64-bit integers as decimal strings, both of which the proto3 JSON parser accepts.
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise BadPayload(f"JSON body is not an ExportTraceServiceRequest: {exc}") from exc
    except RecursionError:
        raise BadPayload("JSON body is nested too deeply") from None
    if span_count(request) > max_spans:
        raise PayloadTooLarge(f"more than {max_spans} spans in one request")
    return request


# Protobuf wire format (protobuf.dev/programming-guides/encoding): ExportTraceServiceRequest
# field 1 = repeated ResourceSpans; ResourceSpans field 2 = repeated ScopeSpans; ScopeSpans
# field 2 = repeated Span. Each is length-delimited (wire type 2).
_LEN = 2
_PATH_TO_SPANS = (1, 2, 2)


def count_wire_spans(body: bytes, max_spans: int) -> int:
    """Spans in a protobuf ExportTraceServiceRequest, counted without parsing them.

    Stops at `max_spans` + 1 (PayloadTooLarge), so a body of millions of empty spans costs a
    few thousand loop steps instead of millions of parsed messages. (A loop over an explicit
    stack, not a recursive closure: that would be a reference cycle holding the body until
    the garbage collector happens to run.)
    """
    count = 0
    # (end of the enclosing message, depth along _PATH_TO_SPANS)
    stack = [(len(body), 0)]
    position = 0
    last = len(_PATH_TO_SPANS) - 1
    while stack:
        end, depth = stack[-1]
        if position >= end:
            if position != end:
                raise BadPayload("protobuf body is truncated")
            stack.pop()
            continue
        key, position = _varint(body, position, end)
        field, wire_type = key >> 3, key & 7
        if wire_type == _LEN:
            length, position = _varint(body, position, end)
            if position + length > end:
                raise BadPayload("protobuf body is truncated")
            if field == _PATH_TO_SPANS[depth] and depth < last:
                stack.append((position + length, depth + 1))
                continue
            if field == _PATH_TO_SPANS[depth]:
                count += 1
                if count > max_spans:
                    raise PayloadTooLarge(f"more than {max_spans} spans in one request")
            position += length
        elif wire_type == 0:
            _, position = _varint(body, position, end)
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        else:
            raise BadPayload(f"protobuf body has wire type {wire_type} (not OTLP)")
    return count


def _varint(data: bytes, position: int, end: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if position >= end:
            raise BadPayload("protobuf body is truncated")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
    raise BadPayload("protobuf body has an over-long varint")


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(
        len(scope_spans.spans)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )


_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON carries trace and span ids as hex; proto3 JSON expects bytes as base64."""
    for resource_spans in _objects(document.get("resourceSpans")):
        for scope_spans in _objects(resource_spans.get("scopeSpans")):
            for span in _objects(scope_spans.get("spans")):
                _convert_ids(span)
                for link in _objects(span.get("links")):
                    _convert_ids(link)


def _objects(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadPayload("JSON body: expected an array where OTLP has a repeated field")
    return [item for item in value if isinstance(item, dict)]


def _convert_ids(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if not isinstance(value, str) or value == "":
            continue
        try:
            raw = bytes.fromhex(value)
        except ValueError as exc:
            raise BadPayload(f"JSON body: {key} {value!r} is not hex") from exc
        obj[key] = base64.b64encode(raw).decode("ascii")


__all__ = [
    "JSON",
    "MAX_BODY_BYTES",
    "MAX_SPANS_PER_REQUEST",
    "PROTOBUF",
    "BadPayload",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "count_wire_spans",
    "decode_request",
    "decompress",
    "encoding_of",
    "span_count",
]
