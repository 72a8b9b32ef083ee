"""Bounded span queue and the single flusher thread that turns requests into Parquet parts.

Senders never wait on disk: the HTTP handler offers a decoded request and gets an
immediate yes/no. Capacity is counted in spans and covers both queued requests and
rows buffered for the next part, so a stuck disk turns into retryable 503s instead
of unbounded memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observability.trace_archive.metrics import ArchiveMetrics
from observability.trace_archive.rows import RunBuffers
from observability.trace_archive.writer import PartWriter

log = logging.getLogger("trace_archive")


class SpanPipeline:
    def __init__(
        self,
        writer: PartWriter,
        metrics: ArchiveMetrics,
        *,
        max_queue_spans: int,
        flush_seconds: float,
        batch_rows: int,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._max_queue_spans = max_queue_spans
        self._flush_seconds = flush_seconds
        self._batch_rows = batch_rows
        self._queue: deque[tuple[ExportTraceServiceRequest, int]] = deque()
        self._pending_spans = 0  # queued + buffered, not yet in a part
        self._condition = threading.Condition()
        self._stopping = False
        self._buffers = RunBuffers()
        self._thread = threading.Thread(target=self._run, name="span-flusher", daemon=True)
        metrics.queue_capacity_spans = max_queue_spans

    @property
    def pending_spans(self) -> int:
        return self._pending_spans

    def start(self) -> None:
        self._thread.start()

    def offer(self, request: ExportTraceServiceRequest, spans: int) -> bool:
        """Queue a request without blocking; False when full or shutting down."""
        with self._condition:
            full = self._pending_spans > 0 and self._pending_spans + spans > self._max_queue_spans
            if self._stopping or full:
                return False
            self._queue.append((request, spans))
            self._pending_spans += spans
            self._metrics.queue_spans = self._pending_spans
            self._condition.notify()
        return True

    def stop(self, timeout: float | None = None) -> bool:
        """Refuse new spans, write everything accepted; True when all of it was written."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive() and self._pending_spans == 0

    def _run(self) -> None:
        next_flush = time.monotonic() + self._flush_seconds
        while True:
            with self._condition:
                while not self._queue and not self._stopping:
                    remaining = next_flush - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                batch = list(self._queue)
                self._queue.clear()
                stopping = self._stopping
            for request, _spans in batch:
                self._buffers.add_request(request)
            del batch
            now = time.monotonic()
            if stopping or now >= next_flush:
                self._flush(self._buffers.folders(), final=stopping)
                next_flush = now + self._flush_seconds
            else:
                full = [
                    f
                    for f in self._buffers.folders()
                    if self._buffers.row_count(f) >= self._batch_rows
                ]
                self._flush(full, final=False)
            if stopping:
                with self._condition:
                    if not self._queue:
                        return

    def _flush(self, folders: list[str], *, final: bool) -> None:
        for folder in folders:
            rows = self._buffers.row_count(folder)
            if rows == 0:
                continue
            columns = self._buffers.take(folder)
            started = time.perf_counter()
            try:
                path = self._writer.write(folder, columns)
            except Exception as exc:
                self._buffers.put_back(folder, columns)
                self._metrics.add("write_errors")
                log.error("cannot write %d spans for %s (kept, retrying): %s", rows, folder, exc)
                if not final:
                    time.sleep(0.5)  # let a full or read-only disk recover
                    continue
                self._give_up(folder, rows)
                continue
            self._metrics.observe_flush(time.perf_counter() - started)
            with self._condition:
                self._pending_spans -= rows
                self._metrics.queue_spans = self._pending_spans
            self._metrics.add("spans_written", rows)
            self._metrics.add("parts_written")
            log.debug("wrote %d spans to %s", rows, path)

    def _give_up(self, folder: str, rows: int) -> None:
        log.error(
            "shutting down with %d spans for %s that could not be written: "
            "free disk space or fix permissions on %s before the next run",
            rows,
            folder,
            self._writer.spans_dir(folder),
        )
