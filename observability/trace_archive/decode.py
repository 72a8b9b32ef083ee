"""OTLP/HTTP request bodies (protobuf or JSON, optionally gzip) to ExportTraceServiceRequest."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# The OTLP specification recommends 20 MiB as the body limit, after decompression too.
MAX_BODY_BYTES = 20 * 1024 * 1024

PROTOBUF = "protobuf"
JSON = "json"


class BadPayload(ValueError):
    """The body cannot be decoded: a permanent failure (HTTP 400, not retried)."""


class PayloadTooLarge(ValueError):
    """The body exceeds MAX_BODY_BYTES (HTTP 413, not retried)."""


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


def decompress(body: bytes, content_encoding: str) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"unsupported Content-Encoding {content_encoding!r}: use gzip")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise BadPayload(f"gzip body is corrupt: {exc}") from exc
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"decompressed body exceeds {MAX_BODY_BYTES} bytes")
    return data


def decode_request(body: bytes, encoding: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    if encoding == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadPayload(f"protobuf body is not an ExportTraceServiceRequest: {exc}") from exc
        return request
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPayload(f"JSON body does not parse: {exc}") from exc
    if not isinstance(document, dict):
        raise BadPayload("JSON body must be an object with a resourceSpans array")
    _hex_ids_to_base64(document)
    try:
        # Unknown fields must be ignored (OTLP/JSON); enums arrive as integers and
        # 64-bit integers as decimal strings, both of which the proto3 JSON parser accepts.
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise BadPayload(f"JSON body is not an ExportTraceServiceRequest: {exc}") from exc
    return request


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
    "PROTOBUF",
    "BadPayload",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "decode_request",
    "decompress",
    "encoding_of",
    "span_count",
]
