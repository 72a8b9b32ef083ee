"""Each Locust task is the root of one trace; each request is a CLIENT span under it.

Why not Locust's `--otel`: it instruments `requests` globally (so HttpUser
only), samples everything, exports over gRPC by default and knows nothing of
tasks, tenants or run ids. This module works the same for `HttpUser` and
`FastHttpUser` by wrapping the user's `client.request`.

- Sampling is decided once per task, on the task's trace id, by the rule of
  `TraceIdRatioBased` (`LAB_TRACE_SAMPLE_RATIO`); requests follow their task,
  and the app follows the `traceparent` flag (ParentBased).
- Every request carries W3C `traceparent` and `baggage:
  lab.run_id=<id>,synthetic_request=true,lab.run_token=<token>`; the token
  (lab/run_token.py, keyed by LAB_RUN_TOKEN_KEY) is the app's proof that the
  request comes from the lab's Locust.
- Why no OpenTelemetry SDK spans or Context here: at a few thousand requests
  per second and core, the SDK's per-span and per-context work was a third of
  FastHttpUser's throughput. The task in progress is one small object in a
  context variable (greenlet-local under gevent). An unsampled task (90 % at
  the default ratio) only precomputes its `traceparent` string; a sampled one
  records finished spans as tuples (`_otlp.FinishedSpan`) that the export
  thread encodes straight into OTLP protobuf.
- Export is OTLP/HTTP (standard `OTEL_EXPORTER_OTLP_*` variables) through a
  bounded queue: when the backend is slow or down, spans are dropped and
  counted, never waited for.
- `OTEL_SDK_DISABLED=true` turns tracing off completely (no headers either).
- Tail sampling (`LAB_TRACE_TAIL=1`, the default; lab/trace_sampling.py): every task is
  sampled, so the app traces every request, and a task's spans wait in its scope until it
  ends; they are exported only when the task is kept (a request failed or was slow for
  its name, `_slow_requests`, or the trace id is in the ratio), else discarded. The trace
  archive drops the app's spans of a trace that never gets a Locust span.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from lab import trace_sampling
from lab.run_token import RUN_TOKEN_BAGGAGE, key_from_environ, run_token
from lab.schemas import WORKFLOW_METHOD
from locustfiles._otlp import (
    KIND_CLIENT,
    KIND_INTERNAL,
    STATUS_ERROR,
    FinishedSpan,
    Sender,
    encode_spans,
    sender_from_environ,
)
from locustfiles._slow_requests import SlowRequestJudge

logger = logging.getLogger(__name__)

SERVICE_NAME = "locust"
RUN_ID_KEY = "lab.run_id"
SYNTHETIC_KEY = "synthetic_request"
_TRACE_ID_LIMIT = (1 << 64) - 1  # TraceIdRatioBased judges the low 64 bits

_random_bits = random.getrandbits
_now_ns = time.time_ns


class TraceScope:
    """The trace a greenlet is in: its task span (or, outside a task, a lone request's)."""

    __slots__ = (
        "keep",
        "pending",
        "sampled",
        "span_id",
        "task_attributes",
        "task_error",
        "trace_id",
        "traceparent",
    )

    def __init__(self, trace_id: int, span_id: int, sampled: bool, keep: bool = True) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.sampled = sampled
        # What a workflow transaction adds to its task span (`end_workflow`).
        self.task_attributes: dict[str, Any] | None = None
        self.task_error = ""
        # Tail sampling: whether the task's spans are exported, and those waiting to know.
        self.keep = keep
        self.pending: list[FinishedSpan] | None = None
        # What an unsampled request sends, built once per task rather than per request.
        self.traceparent = f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


_current: ContextVar[TraceScope | None] = ContextVar("lab_trace_scope", default=None)


def current_trace_id() -> str | None:
    """The hex trace id of the running task when it is sampled, else None (for the record)."""
    scope = _current.get()
    if scope is None or not scope.sampled:
        return None
    return f"{scope.trace_id:032x}"


class DroppingSpanQueue:
    """A bounded batch queue that never blocks a user.

    Spans that do not fit in the queue, and batches the sender fails to
    deliver, are dropped and counted in `dropped`. A thread (a greenlet under
    gevent) encodes and sends a batch every `schedule_delay_s`, or sooner when
    a full batch is waiting.
    """

    def __init__(
        self,
        send: Sender,
        resource: Mapping[str, Any],
        max_queue_size: int = 4096,
        max_batch_size: int = 512,
        schedule_delay_s: float = 1.0,
    ) -> None:
        self.send = send
        self.resource = dict(resource)
        self.max_queue_size = max_queue_size
        self.max_batch_size = max_batch_size
        self.schedule_delay_s = schedule_delay_s
        self.dropped = 0
        self.exported = 0
        self._queue: collections.deque[FinishedSpan] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._worker = threading.Thread(target=self._run, name="lab-span-export", daemon=True)
        self._worker.start()

    def put(self, span: FinishedSpan) -> None:
        queue = self._queue
        if self._stopping or len(queue) >= self.max_queue_size:
            self.dropped += 1
            return
        queue.append(span)
        if len(queue) >= self.max_batch_size:
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.schedule_delay_s)
            self._wake.clear()
            self._export_queued()
        self._export_queued()

    def _export_queued(self) -> None:
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(self.max_batch_size, len(queue)))]
            try:
                delivered = self.send(encode_spans(batch, self.resource))
            except Exception:  # a sender bug must not end the load test
                logger.exception("span export raised; %d spans dropped", len(batch))
                delivered = False
            if delivered:
                self.exported += len(batch)
            else:
                self.dropped += len(batch)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (within `timeout_s`); what is left is dropped."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._worker.join(timeout_s)
        if self._worker.is_alive():  # backend too slow
            self.dropped += len(self._queue)
            self._queue.clear()
        close = getattr(self.send, "shutdown", None)
        if close is not None:
            close()


def tracing_disabled_by_environ() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def resource_attributes(worker_id: str) -> dict[str, Any]:
    """service.name=locust (unless OTEL_SERVICE_NAME), locust.worker_id, OTEL_RESOURCE_*."""
    attributes: dict[str, Any] = {"locust.worker_id": worker_id}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = SERVICE_NAME
    return dict(Resource.create(attributes).attributes)


def baggage_header(run_id: str) -> str:
    """The baggage every request carries; with the run's token when the key is set."""
    header = f"{RUN_ID_KEY}={quote(run_id, safe='')},{SYNTHETIC_KEY}=true"
    key = key_from_environ()
    if key is None:
        logger.warning(
            "LAB_RUN_TOKEN_KEY is unset: the app will not trust this run's requests "
            "(no app spans in the run's folder); set it as in .env"
        )
        return header
    return f"{header},{RUN_TOKEN_BAGGAGE}={run_token(run_id, key)}"


class LabTracing:
    """Sampling, propagation, span recording and export for one Locust process."""

    def __init__(
        self,
        run_id: str,
        sample_ratio: float,
        worker_id: str = "local",
        sender: Sender | None = None,
        use_environ_exporter: bool = True,
        tail: bool | None = None,
    ) -> None:
        self.run_id = run_id
        self.bound = TraceIdRatioBased(sample_ratio).bound
        self.tail = trace_sampling.tail_enabled() if tail is None else tail
        self.judge = SlowRequestJudge(
            trace_sampling.slow_quantile(),
            trace_sampling.keep_slowest(),
            trace_sampling.MIN_REQUESTS_FOR_QUANTILE,
        )
        self.tasks_kept = 0
        self.tasks_discarded = 0
        self.resource = resource_attributes(worker_id)
        if sender is None and use_environ_exporter:
            sender = sender_from_environ()
        self.queue = DroppingSpanQueue(sender, self.resource) if sender is not None else None
        self.baggage_header = baggage_header(run_id)

    @property
    def dropped_spans(self) -> int:
        return self.queue.dropped if self.queue is not None else 0

    def _new_scope(self) -> TraceScope:
        trace_id = _random_bits(128) or 1
        in_ratio = (trace_id & _TRACE_ID_LIMIT) < self.bound
        if not self.tail:
            return TraceScope(trace_id, _random_bits(64) or 1, in_ratio)
        scope = TraceScope(trace_id, _random_bits(64) or 1, True, keep=in_ratio)
        scope.pending = []
        return scope

    def _record(self, span: FinishedSpan, scope: TraceScope | None = None) -> None:
        if scope is not None and scope.pending is not None:
            scope.pending.append(span)  # tail sampling: the task's verdict is not known yet
        elif self.queue is not None:
            self.queue.put(span)

    def _settle(self, scope: TraceScope) -> None:
        """At the end of a task (tail sampling): export its spans if kept, else forget them."""
        pending = scope.pending
        if pending is None:
            return
        scope.pending = None
        if not scope.keep:
            self.tasks_discarded += 1
            return
        self.tasks_kept += 1
        if self.queue is not None:
            for span in pending:
                self.queue.put(span)

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        exception: BaseException | None = None,
        **_kwargs: Any,
    ) -> None:
        """Locust's request event: a failed or slow request keeps its task's trace."""
        if not self.tail:
            return
        slow = self.judge.is_slow(request_type, name, float(response_time or 0.0))
        scope = _current.get()
        if scope is not None and (slow or exception is not None):
            scope.keep = True

    def end_workflow(
        self, name: str, duration_ms: float, failure: str | None, requests: int
    ) -> None:
        """A workflow transaction ends inside its task: its task span is the transaction's span.

        The span gets `lab.workflow` and its outcome, an ERROR status when it failed; with
        tail sampling a failed or slow transaction (per workflow name, as for requests)
        keeps its trace, so a slow POS sale opens as one trace even when no step was slow.
        """
        scope = _current.get()
        if scope is None:
            return
        scope.task_attributes = {
            "lab.workflow": name,
            "lab.workflow.requests": requests,
            "lab.workflow.success": failure is None,
        }
        scope.task_error = failure or ""
        if self.tail:
            slow = self.judge.is_slow(WORKFLOW_METHOD, name, duration_ms)
            if slow or failure is not None:
                scope.keep = True

    def run_task(self, function: Callable[..., Any], user: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `function(user, …)` as the INTERNAL root span `<UserClass>.<task>` of a trace.

        The sampling decision is made here, once; an unsampled task records nothing.
        """
        scope = self._new_scope()
        token = _current.set(scope)
        if not scope.sampled:
            try:
                return function(user, *args, **kwargs)
            finally:
                _current.reset(token)
        start = _now_ns()
        try:
            return function(user, *args, **kwargs)
        finally:
            _current.reset(token)
            attributes = user.span_attributes()
            attributes["lab.task"] = function.__name__
            if scope.task_attributes:
                attributes.update(scope.task_attributes)
            self._record(
                FinishedSpan(
                    scope.trace_id,
                    scope.span_id,
                    0,
                    f"{type(user).__name__}.{function.__name__}",
                    KIND_INTERNAL,
                    start,
                    _now_ns(),
                    attributes,
                    STATUS_ERROR if scope.task_error else 0,
                    scope.task_error,
                ),
                scope,
            )
            self._settle(scope)

    def wrap_request(
        self, original: Callable[..., Any], attributes: Callable[[], dict[str, Any]]
    ) -> Callable[..., Any]:
        """`client.request` that sends the W3C headers and records a CLIENT span when sampled."""
        baggage_header = self.baggage_header

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            scope = _current.get()
            headers = kwargs.get("headers")
            headers = dict(headers) if headers else {}
            kwargs["headers"] = headers
            headers["baggage"] = baggage_header
            if scope is not None and not scope.sampled:
                # Unsampled task: propagate its context with the flag off; no span.
                headers["traceparent"] = scope.traceparent
                return original(method, url, *args, **kwargs)
            return self._traced_request(original, attributes, scope, method, url, args, kwargs)

        request.__wrapped__ = original  # type: ignore[attr-defined]
        return request

    def _traced_request(
        self,
        original: Callable[..., Any],
        attributes: Callable[[], dict[str, Any]],
        task: TraceScope | None,
        method: str,
        url: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """A request of a sampled task, or one made outside any task (its own root)."""
        token = None
        if task is None:
            # Outside a task: the request is the root, sampled on its own trace id, and
            # the record must see that trace while the request runs.
            task = self._new_scope()
            token = _current.set(task)
            if not task.sampled:
                kwargs["headers"]["traceparent"] = task.traceparent
                try:
                    return original(method, url, *args, **kwargs)
                finally:
                    _current.reset(token)
            span_id, parent_id = task.span_id, 0
        else:
            span_id, parent_id = _random_bits(64) or 1, task.span_id
        kwargs["headers"]["traceparent"] = f"00-{task.trace_id:032x}-{span_id:016x}-01"
        name = kwargs.get("name") or url
        status: int | None = None
        start = _now_ns()
        try:
            response = original(method, url, *args, **kwargs)
            status = int(getattr(response, "status_code", 0) or 0)
            return response
        finally:
            end = _now_ns()
            if token is not None:
                _current.reset(token)
            span_attributes = attributes()
            span_attributes["http.request.method"] = method
            span_attributes["url.path"] = str(url)
            span_attributes["lab.request_name"] = name
            failed = False
            if status is not None:  # no status when the client raised
                span_attributes["http.response.status_code"] = status
                failed = status == 0 or status >= 400
            self._record(
                FinishedSpan(
                    task.trace_id,
                    span_id,
                    parent_id,
                    f"{method} {name}",
                    KIND_CLIENT,
                    start,
                    end,
                    span_attributes,
                    STATUS_ERROR if failed else 0,
                    f"HTTP {status}" if failed else "",
                ),
                task,
            )
            if token is not None:  # a lone request is its own task
                task.keep = task.keep or failed or status is None
                self._settle(task)

    # --- browser page loads (locustfiles/_browser.py) ---------------------------------------
    def open_scope(self) -> TraceScope:
        """A new trace for work done outside a task's greenlet: a browser's page load.

        The browser sends `scope.traceparent` and `baggage_header` with every request of the
        page (document, assets, its scripts' fetches), so the app's spans are children of the
        page-load span; the caller fires its request event inside `in_scope(scope)` (the
        record takes the trace id from it) and then calls `close_scope`.
        """
        return self._new_scope()

    def close_scope(
        self,
        scope: TraceScope,
        name: str,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, Any],
        failure: str | None,
    ) -> None:
        """Record the page load as the CLIENT root span of its trace; a failure keeps it."""
        if failure:
            scope.keep = True
        if scope.sampled:
            span = FinishedSpan(
                scope.trace_id,
                scope.span_id,
                0,
                name,
                KIND_CLIENT,
                start_ns,
                end_ns,
                attributes,
                STATUS_ERROR if failure else 0,
                failure or "",
            )
            self._record(span, scope)
        self._settle(scope)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        if self.queue is not None:
            self.queue.shutdown(timeout_s)


@contextmanager
def in_scope(scope: TraceScope | None) -> Iterator[None]:
    """`scope` is the current trace while the block runs (request events fired in it)."""
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


# The process-wide instance, set by the plugin on a local runner or a worker.
_active: LabTracing | None = None


def active() -> LabTracing | None:
    return _active


def activate(tracing: LabTracing | None) -> None:
    global _active
    _active = tracing
