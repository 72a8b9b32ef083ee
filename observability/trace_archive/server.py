"""The OTLP/HTTP endpoint: POST /v1/traces, GET /metrics, GET /healthz.

Bounded against a hostile or broken sender (docs/architecture.md "Trace archive limits"):
a Content-Length or chunk size that is not a plain non-negative number is a 400; a body must
fit `max_request_bytes` (after decompression too) and `max_request_spans`, and arrive within
`request_timeout_seconds`; at most `max_handlers` bodies of the largest size are read and
decoded at once (a byte budget) and at
most `max_connections` connections are served, the rest get a retryable 503 at once.
The decode budget and the queue keep a lane for small requests (budget.py).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from observability.trace_archive.budget import ByteBudget
from observability.trace_archive.config import ArchiveConfig
from observability.trace_archive.decode import (
    JSON,
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
# How long a request waits for room in the decode budget before it is told to retry.
SLOT_WAIT_SECONDS = 2.0
READ_CHUNK_BYTES = 64 * 1024
_CONTENT_TYPES = {PROTOBUF: "application/x-protobuf", JSON: "application/json"}
# RFC 9112: Content-Length is 1*DIGIT; a chunk size is 1*HEXDIG (int() would also take
# "-1", "+5", " 5" or "1_0"). Eight hex digits already exceed any body we accept.
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,19}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")
_BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + RETRY_AFTER_SECONDS.encode() + b"\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 22\r\nConnection: close\r\n\r\n"
    b"trace archive is busy\n"
)


class RequestTimedOut(Exception):
    """The body did not arrive within the request timeout."""


class ArchiveHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        pipeline: SpanPipeline,
        metrics: ArchiveMetrics,
        config: ArchiveConfig,
    ) -> None:
        super().__init__(address, OtlpHandler)
        self.pipeline = pipeline
        self.metrics = metrics
        self.config = config
        self.connections = threading.BoundedSemaphore(config.max_connections)
        # Room for max_handlers bodies of the largest size being read and decoded at once.
        self.decode_budget = ByteBudget(config.max_handlers * config.max_request_bytes)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Each connection is a thread: past max_connections, answer 503 and close at once
        # instead of starting another thread (and its buffers).
        if not self.connections.acquire(blocking=False):
            self.metrics.add("requests_busy")
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY_REPLY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


class OtlpHandler(BaseHTTPRequestHandler):
    # Keep-alive: OTLP exporters reuse one connection for every batch.
    protocol_version = "HTTP/1.1"
    server: ArchiveHTTPServer
    # Idle keep-alive connections give their thread back after this many seconds.
    timeout = 60

    def do_POST(self) -> None:
        config = self.server.config
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self.close_connection = True  # the body is not read
            self._reply_text(HTTPStatus.NOT_FOUND, f"only {TRACES_PATH} is served here\n")
            return
        encoding = PROTOBUF
        try:
            encoding = encoding_of(self.headers.get("Content-Type", ""))
        except UnsupportedMediaType as exc:
            self.close_connection = True
            self._reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc), encoding)
            return
        reserved = self.server.decode_budget.acquire(
            self._reservation(config), timeout=SLOT_WAIT_SECONDS
        )
        if reserved is None:
            self.close_connection = True
            self.server.metrics.add("requests_busy")
            self._status_reply(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "trace archive is busy; retry later",
                encoding,
                retry_after=True,
            )
            return
        try:
            request, spans, size = self._decode(encoding, config)
        except PayloadTooLarge as exc:
            self._reject(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc), encoding)
            return
        except BadPayload as exc:
            self._reject(HTTPStatus.BAD_REQUEST, str(exc), encoding)
            return
        except UnsupportedMediaType as exc:
            self._reject(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc), encoding)
            return
        except (RequestTimedOut, TimeoutError, ConnectionError) as exc:
            self.close_connection = True
            self.server.metrics.add("bad_requests")
            log.warning("dropped a slow or broken export from %s: %r", self.address_string(), exc)
            return
        finally:
            self.server.decode_budget.release(reserved)
            self.connection.settimeout(self.timeout)
        metrics = self.server.metrics
        if spans and not self.server.pipeline.offer(request, spans, size):
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

    def _reservation(self, config: ArchiveConfig) -> int:
        """Bytes of the decode budget this request needs: its declared plain size, else all."""
        length = self.headers.get("Content-Length", "").strip()
        plain = self.headers.get("Content-Encoding", "").strip().lower() in ("", "identity")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if plain and not chunked and _CONTENT_LENGTH.fullmatch(length.encode("latin-1", "replace")):
            return max(1, min(int(length), config.max_request_bytes))
        return config.max_request_bytes

    def _decode(
        self, encoding: str, config: ArchiveConfig
    ) -> tuple[ExportTraceServiceRequest, int, int]:
        """The decoded request, its span count and the size of its protobuf encoding."""
        deadline = time.monotonic() + config.request_timeout_seconds
        raw = self._read_body(config.max_request_bytes, deadline)
        body = decompress(raw, self.headers.get("Content-Encoding", ""), config.max_request_bytes)
        del raw
        request = decode_request(body, encoding, config.max_request_spans)
        spans = span_count(request)
        if encoding == PROTOBUF:
            return request, spans, len(body)
        wire = request.SerializeToString()
        try:
            # JSON skips the protobuf parser's nesting limit, which the flusher relies on.
            ExportTraceServiceRequest().ParseFromString(wire)
        except DecodeError as exc:
            raise BadPayload(f"JSON body nests values too deeply: {exc}") from exc
        return request, spans, len(wire)

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

    # --- body -----------------------------------------------------------------------------
    def _read_body(self, limit: int, deadline: float) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit, deadline)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True
            raise BadPayload("a Content-Length or chunked Transfer-Encoding is required")
        if not _CONTENT_LENGTH.fullmatch(length_header.strip().encode("latin-1", "replace")):
            self.close_connection = True  # the body's end is unknown
            raise BadPayload(f"Content-Length {length_header!r} is not a non-negative number")
        length = int(length_header)
        if length > limit:
            self.close_connection = True  # the unread body makes the connection unusable
            raise PayloadTooLarge(f"body of {length} bytes exceeds {limit}")
        return self._read_exact(length, deadline)

    def _read_chunked(self, limit: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self._readline(deadline)
            size_text = size_line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                self.close_connection = True
                raise BadPayload(f"malformed chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(100):  # trailers
                    if self._readline(deadline) in (b"\r\n", b"\n", b""):
                        return b"".join(parts)
                self.close_connection = True
                raise BadPayload("too many trailer lines")
            total += size
            if total > limit:
                self.close_connection = True
                raise PayloadTooLarge(f"chunked body exceeds {limit} bytes")
            parts.append(self._read_exact(size, deadline))
            if self._readline(deadline) not in (b"\r\n", b"\n"):
                self.close_connection = True
                raise BadPayload("malformed chunked body: no CRLF after a chunk")

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RequestTimedOut("body not received within the request timeout")
        self.connection.settimeout(left)
        return left

    def _read_exact(self, length: int, deadline: float) -> bytes:
        parts: list[bytes] = []
        remaining = length
        while remaining:
            self._remaining(deadline)
            try:
                chunk = self.rfile.read1(min(remaining, READ_CHUNK_BYTES))
            except TimeoutError as exc:
                raise RequestTimedOut("body not received within the request timeout") from exc
            if not chunk:
                self.close_connection = True
                raise BadPayload(f"body ended after {length - remaining} of {length} bytes")
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def _readline(self, deadline: float) -> bytes:
        self._remaining(deadline)
        try:
            return self.rfile.readline(1024)
        except TimeoutError as exc:
            raise RequestTimedOut("body not received within the request timeout") from exc

    # --- replies --------------------------------------------------------------------------
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
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
