"""The OTLP/HTTP endpoint: POST /v1/traces, GET /metrics, GET /healthz."""

from __future__ import annotations

import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from observability.trace_archive.decode import (
    JSON,
    MAX_BODY_BYTES,
    PROTOBUF,
    BadPayload,
    PayloadTooLarge,
    UnsupportedMediaType,
    decode_request,
    decompress,
    encoding_of,
    span_count,
)
from observability.trace_archive.metrics import ArchiveMetrics
from observability.trace_archive.pipeline import SpanPipeline

log = logging.getLogger("trace_archive")

TRACES_PATH = "/v1/traces"
RETRY_AFTER_SECONDS = "1"
_CONTENT_TYPES = {PROTOBUF: "application/x-protobuf", JSON: "application/json"}


class ArchiveHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], pipeline: SpanPipeline, metrics: ArchiveMetrics
    ) -> None:
        super().__init__(address, OtlpHandler)
        self.pipeline = pipeline
        self.metrics = metrics


class OtlpHandler(BaseHTTPRequestHandler):
    # Keep-alive: OTLP exporters reuse one connection for every batch.
    protocol_version = "HTTP/1.1"
    server: ArchiveHTTPServer
    # Idle keep-alive connections give their thread back after this many seconds.
    timeout = 60

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self._drain_body()
            self._reply_text(HTTPStatus.NOT_FOUND, f"only {TRACES_PATH} is served here\n")
            return
        encoding = PROTOBUF
        try:
            encoding = encoding_of(self.headers.get("Content-Type", ""))
            body = decompress(self._read_body(), self.headers.get("Content-Encoding", ""))
            request = decode_request(body, encoding)
        except UnsupportedMediaType as exc:
            self._reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc), encoding)
            return
        except PayloadTooLarge as exc:
            self._reject(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc), encoding)
            return
        except BadPayload as exc:
            self._reject(HTTPStatus.BAD_REQUEST, str(exc), encoding)
            return
        spans = span_count(request)
        metrics = self.server.metrics
        if spans and not self.server.pipeline.offer(request, spans):
            metrics.add("spans_dropped", spans)
            metrics.add("requests_rejected")
            self._status_reply(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "trace archive queue is full; retry later",
                encoding,
                retry_after=True,
            )
            return
        metrics.add("spans_received", spans)
        response = ExportTraceServiceResponse()
        if encoding == JSON:
            payload = json_format.MessageToJson(response).encode()
        else:
            payload = response.SerializeToString()
        self._send(HTTPStatus.OK, payload, _CONTENT_TYPES[encoding])

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(
                HTTPStatus.OK,
                self.server.metrics.render().encode(),
                "text/plain; version=0.0.4; charset=utf-8",
            )
        elif path == "/healthz":
            self._send(HTTPStatus.OK, b'{"status":"ok"}\n', "application/json")
        else:
            self._reply_text(
                HTTPStatus.NOT_FOUND, "try POST /v1/traces, GET /metrics, GET /healthz\n"
            )

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise BadPayload("a Content-Length or chunked Transfer-Encoding is required")
        try:
            length = int(length_header)
        except ValueError:
            raise BadPayload(f"Content-Length {length_header!r} is not a number") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body makes the connection unusable
            raise PayloadTooLarge(f"body of {length} bytes exceeds {MAX_BODY_BYTES}")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise BadPayload("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise PayloadTooLarge(f"chunked body exceeds {MAX_BODY_BYTES} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _drain_body(self) -> None:
        try:
            self._read_body()
        except (BadPayload, PayloadTooLarge):
            self.close_connection = True

    def _reject(self, status: HTTPStatus, message: str, encoding: str) -> None:
        self.server.metrics.add("bad_requests")
        log.warning("refused export from %s: %s", self.address_string(), message)
        self._status_reply(status, message, encoding)

    def _status_reply(
        self, status: HTTPStatus, message: str, encoding: str, *, retry_after: bool = False
    ) -> None:
        # OTLP: every 4xx/5xx body is a google.rpc.Status in the request's encoding.
        body = Status(code=0, message=message)
        if encoding == JSON:
            payload = json_format.MessageToJson(body).encode()
        else:
            payload = body.SerializeToString()
        extra = {"Retry-After": RETRY_AFTER_SECONDS} if retry_after else {}
        self._send(status, payload, _CONTENT_TYPES[encoding], extra)

    def _reply_text(self, status: HTTPStatus, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _send(
        self,
        status: HTTPStatus,
        payload: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
