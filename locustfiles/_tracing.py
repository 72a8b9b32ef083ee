"""Each Locust task is the root of one trace; each request is a CLIENT span under it.

Why not Locust's `--otel`: it instruments `requests` globally (so HttpUser
only), samples everything, exports over gRPC by default and knows nothing of
tasks, tenants or run ids. This module works the same for `HttpUser` and
`FastHttpUser` by wrapping the user's `client.request`.

- Sampling is decided once, at the task span (`TraceIdRatioBased`,
  `LAB_TRACE_SAMPLE_RATIO`); requests follow their task, and the app follows
  the `traceparent` flag (ParentBased).
- Every request carries W3C `traceparent` and `baggage:
  lab.run_id=<id>,synthetic_request=true`.
- A request of an unsampled task creates no span at all: it propagates the
  task's context with the sampled flag off, which is all the app needs. That
  keeps the cost of tracing near zero for the 90 % that are not sampled.
- Export is OTLP/HTTP (standard `OTEL_EXPORTER_OTLP_*` variables) through a
  bounded queue: when the backend is slow or down, spans are dropped and
  counted, never waited for.
- `OTEL_SDK_DISABLED=true` turns tracing off completely (no headers either).
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from opentelemetry import baggage, context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode

logger = logging.getLogger(__name__)

SERVICE_NAME = "locust"
RUN_ID_KEY = "lab.run_id"
SYNTHETIC_KEY = "synthetic_request"


class DroppingBatchSpanProcessor(SpanProcessor):
    """A batch processor whose queue is bounded and never blocks a user.

    Spans that do not fit in the queue, and batches the exporter fails to
    deliver, are dropped and counted in `dropped`.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        max_queue_size: int = 4096,
        max_batch_size: int = 512,
        schedule_delay_s: float = 1.0,
    ) -> None:
        self.exporter = exporter
        self.max_queue_size = max_queue_size
        self.max_batch_size = max_batch_size
        self.schedule_delay_s = schedule_delay_s
        self.dropped = 0
        self.exported = 0
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._worker = threading.Thread(target=self._run, name="lab-span-export", daemon=True)
        self._worker.start()

    def on_start(self, span: Span, parent_context: context.Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._stopping or len(self._queue) >= self.max_queue_size:
            self.dropped += 1
            return
        self._queue.append(span)
        if len(self._queue) >= self.max_batch_size:
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.schedule_delay_s)
            self._wake.clear()
            self._export_queued()
        self._export_queued()

    def _export_queued(self) -> None:
        while self._queue:
            batch = [
                self._queue.popleft() for _ in range(min(self.max_batch_size, len(self._queue)))
            ]
            try:
                result = self.exporter.export(batch)
            except Exception:  # an exporter bug must not end the load test
                logger.exception("span export raised; %d spans dropped", len(batch))
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                self.exported += len(batch)
            else:
                self.dropped += len(batch)

    def shutdown(self, timeout_s: float = 5.0) -> None:  # type: ignore[override]
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._worker.join(timeout_s)
        if self._worker.is_alive():  # backend too slow: what is left is dropped
            self.dropped += len(self._queue)
            self._queue.clear()
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._wake.set()
        return True


_TRACE_ID_LIMIT = (1 << 64) - 1  # TraceIdRatioBased judges the low 64 bits


class _PresetIdGenerator(RandomIdGenerator):
    """Hands out a trace id drawn beforehand (once), so the sampler sees that id."""

    preset: int | None = None

    def generate_trace_id(self) -> int:
        preset, self.preset = self.preset, None
        return preset if preset is not None else super().generate_trace_id()


def _exporter_from_environ() -> SpanExporter | None:
    """OTLP/HTTP when an endpoint is configured (as the app does); else propagate only."""
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if choice in ("", "none"):
        return None
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if choice == "otlp" and not endpoint:
        return None
    if choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if choice != "otlp":
        logger.warning("OTEL_TRACES_EXPORTER=%s is not supported here; using otlp", choice)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def tracing_disabled_by_environ() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


class LabTracing:
    """Tracer, sampler, exporter and the request wrapper for one Locust process."""

    def __init__(
        self,
        run_id: str,
        sample_ratio: float,
        worker_id: str = "local",
        exporter: SpanExporter | None = None,
        use_environ_exporter: bool = True,
    ) -> None:
        self.run_id = run_id
        attributes: dict[str, Any] = {"locust.worker_id": worker_id}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = SERVICE_NAME
        sampler = TraceIdRatioBased(sample_ratio)
        self.bound = sampler.bound
        self.id_generator = _PresetIdGenerator()
        self.provider = TracerProvider(
            resource=Resource.create(attributes),
            sampler=ParentBased(root=sampler),
            id_generator=self.id_generator,
        )
        if exporter is None and use_environ_exporter:
            exporter = _exporter_from_environ()
        self.processor = DroppingBatchSpanProcessor(exporter) if exporter is not None else None
        if self.processor is not None:
            self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("locustfiles")
        root = baggage.set_baggage(RUN_ID_KEY, run_id, context.Context())
        self.root_context = baggage.set_baggage(SYNTHETIC_KEY, "true", root)
        self.baggage_header = f"{RUN_ID_KEY}={quote(run_id, safe='')},{SYNTHETIC_KEY}=true"

    @property
    def dropped_spans(self) -> int:
        return self.processor.dropped if self.processor is not None else 0

    @contextmanager
    def task_span(self, name: str, attributes: dict[str, Any]) -> Iterator[None]:
        """The INTERNAL root span of one task; the sampling decision is made here.

        The trace id is drawn first and judged by TraceIdRatioBased's own rule; only a
        sampled task pays for an SDK span. An unsampled one gets a bare span context
        (with that trace id, flag off) that its requests propagate.
        """
        trace_id = random.getrandbits(128) or 1
        if (trace_id & _TRACE_ID_LIMIT) >= self.bound:
            unsampled = trace.NonRecordingSpan(
                trace.SpanContext(trace_id, random.getrandbits(64) or 1, is_remote=False)
            )
            token = context.attach(trace.set_span_in_context(unsampled, self.root_context))
            try:
                yield
            finally:
                context.detach(token)
            return
        self.id_generator.preset = trace_id  # start_span is synchronous: no other user interleaves
        span = self.tracer.start_span(
            name, context=self.root_context, kind=SpanKind.INTERNAL, attributes=attributes
        )
        token = context.attach(trace.set_span_in_context(span, self.root_context))
        try:
            yield
        finally:
            context.detach(token)
            span.end()

    def wrap_request(
        self, original: Callable[..., Any], attributes: Callable[[], dict[str, Any]]
    ) -> Callable[..., Any]:
        """`client.request` that adds a CLIENT span (when sampled) and the W3C headers."""
        tracer = self.tracer
        baggage_header = self.baggage_header
        root_context = self.root_context

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            current = trace.get_current_span().get_span_context()
            if current.is_valid and not current.trace_flags.sampled:
                # Unsampled task: propagate its context with the flag off; no span needed.
                headers = dict(kwargs.get("headers") or {})
                headers["traceparent"] = f"00-{current.trace_id:032x}-{current.span_id:016x}-00"
                headers["baggage"] = baggage_header
                kwargs["headers"] = headers
                return original(method, url, *args, **kwargs)
            name = kwargs.get("name") or url
            span_attributes = attributes()
            span_attributes.update(
                {"http.request.method": method, "url.path": str(url), "lab.request_name": name}
            )
            parent = None if current.is_valid else root_context
            span = tracer.start_span(
                f"{method} {name}", context=parent, kind=SpanKind.CLIENT, attributes=span_attributes
            )
            span_context = span.get_span_context()
            headers = dict(kwargs.get("headers") or {})
            headers["traceparent"] = (
                f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
                f"{int(span_context.trace_flags):02x}"
            )
            headers["baggage"] = baggage_header
            kwargs["headers"] = headers
            token = context.attach(trace.set_span_in_context(span, parent or context.get_current()))
            try:
                response = original(method, url, *args, **kwargs)
                status = int(getattr(response, "status_code", 0) or 0)
                if span.is_recording():
                    span.set_attribute("http.response.status_code", status)
                    if status == 0 or status >= 400:
                        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
                return response
            finally:
                context.detach(token)
                span.end()

        request.__wrapped__ = original  # type: ignore[attr-defined]
        return request

    def shutdown(self, timeout_s: float = 5.0) -> None:
        if self.processor is not None:
            self.processor.shutdown(timeout_s)


# The process-wide instance, set by the plugin on a local runner or a worker.
_active: LabTracing | None = None


def active() -> LabTracing | None:
    return _active


def activate(tracing: LabTracing | None) -> None:
    global _active
    _active = tracing
