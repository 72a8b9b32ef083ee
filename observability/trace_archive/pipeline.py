"""Bounded span queue and the single flusher thread that turns requests into Parquet parts.

Senders never wait on disk: the HTTP handler offers a decoded request and gets an
immediate yes/no. Capacity is counted twice, in spans and in bytes of protobuf, and covers
both queued requests and rows buffered for the next part, so a stuck disk or a flood of large
spans turns into retryable 503s instead of unbounded memory. A queued request is weighed by
the size of its protobuf encoding, which its parsed form follows closely.

A run folder that cannot be written while the runs folder itself can (the run id names a
file, a folder without permission) is quarantined: its rows, and every later row of that run,
go to `runs/_quarantine/spans/` with their run id kept, logged once, counted; other runs go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observability.trace_archive.budget import RESERVED_FOR_SMALL, is_small
from observability.trace_archive.metrics import ArchiveMetrics
from observability.trace_archive.rows import RunBuffers
from observability.trace_archive.schema import QUARANTINE_RUN
from observability.trace_archive.tail import TailSampler
from observability.trace_archive.writer import PartWriter

log = logging.getLogger("trace_archive")

# Run ids remembered as quarantined; past this many only the counter grows (no more log lines).
MAX_REMEMBERED_QUARANTINE = 10_000


class SpanPipeline:
    def __init__(
        self,
        writer: PartWriter,
        metrics: ArchiveMetrics,
        *,
        max_queue_spans: int,
        max_queue_bytes: int,
        flush_seconds: float,
        batch_rows: int,
        tail: TailSampler | None = None,
    ) -> None:
        self._writer = writer
        self._tail = tail
        self._metrics = metrics
        self._max_queue_spans = max_queue_spans
        self._max_queue_bytes = max_queue_bytes
        self._flush_seconds = flush_seconds
        self._batch_rows = batch_rows
        self._queue: deque[tuple[ExportTraceServiceRequest, int, int]] = deque()
        self._pending_spans = 0  # queued + buffered, not yet in a part
        self._pending_bytes = 0
        self._folder_bytes: dict[str, float] = {}  # buffered rows' share of their bodies
        self._quarantined: set[str] = set()
        self._condition = threading.Condition()
        self._stopping = False
        self._buffers = RunBuffers()
        self._thread = threading.Thread(target=self._run, name="span-flusher", daemon=True)
        metrics.queue_capacity_spans = max_queue_spans
        metrics.queue_capacity_bytes = max_queue_bytes

    @property
    def pending_spans(self) -> int:
        return self._pending_spans

    def start(self) -> None:
        self._thread.start()

    def offer(self, request: ExportTraceServiceRequest, spans: int, size: int) -> bool:
        """Queue a decoded request of `size` protobuf bytes without blocking; False when full.

        Large requests may fill the queue only up to its capacity minus the small requests'
        reserve (budget.py); an empty queue admits one request of any size the request limits
        allow, so a single large (but valid) export never waits forever.
        """
        share = 1.0 if is_small(size, spans) else 1.0 - RESERVED_FOR_SMALL
        with self._condition:
            full = self._pending_spans > 0 and (
                self._pending_spans + spans > self._max_queue_spans * share
                or self._pending_bytes + size > self._max_queue_bytes * share
            )
            if self._stopping or full:
                return False
            self._queue.append((request, spans, size))
            self._pending_spans += spans
            self._pending_bytes += size
            self._publish()
            self._condition.notify()
        return True

    def stop(self, timeout: float | None = None) -> bool:
        """Refuse new spans, write everything accepted; True when all of it was written."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive() and self._pending_spans == 0

    def _publish(self) -> None:
        self._metrics.queue_spans = self._pending_spans
        self._metrics.queue_bytes = self._pending_bytes

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
            for request, spans, size in batch:
                self._buffer(request, spans, size)
            del batch
            if self._tail is not None:
                if stopping:
                    self._tail.drop_all()
                else:
                    self._tail.expire()
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

    def _buffer(self, request: ExportTraceServiceRequest, spans: int, size: int) -> None:
        if self._tail is not None:
            request, spans, size = self._tail_filter(request, spans, size)
            if spans == 0:
                return
        try:
            added = self._buffers.add_request(request, redirect=self._quarantined)
        except Exception:  # validated by the handler; never let one request stop the flusher
            log.exception("could not buffer a decoded request of %d spans; dropped", spans)
            self._metrics.add("spans_dropped", spans)
            self._release(spans, size)
            return
        share = size / spans if spans else 0.0
        for folder, rows in added.items():
            self._folder_bytes[folder] = self._folder_bytes.get(folder, 0.0) + rows * share

    def _tail_filter(
        self, request: ExportTraceServiceRequest, spans: int, size: int
    ) -> tuple[ExportTraceServiceRequest, int, int]:
        """The spans to write now; the queue's count moves from the request to them.

        Held spans leave the queue's budget for the sampler's own (LAB_ARCHIVE_TAIL_MAX_BYTES).
        """
        assert self._tail is not None
        try:
            kept = self._tail.filter(request)
        except Exception:  # validated by the handler; never let one request stop the flusher
            log.exception("tail sampling failed on a request of %d spans; written as is", spans)
            return request, spans, size
        kept_spans = sum(len(s.spans) for r in kept.resource_spans for s in r.scope_spans)
        kept_size = kept.ByteSize() if kept_spans else 0
        with self._condition:
            self._pending_spans += kept_spans - spans
            self._pending_bytes = max(0, self._pending_bytes + kept_size - size)
            if self._pending_spans == 0:
                self._pending_bytes = 0
            self._publish()
        return kept, kept_spans, kept_size

    def _release(self, spans: int, size: int) -> None:
        with self._condition:
            self._pending_spans -= spans
            self._pending_bytes = max(0, self._pending_bytes - size)
            if self._pending_spans == 0:
                self._pending_bytes = 0  # rounding of the per-folder shares
            self._publish()

    def _flush(self, folders: list[str], *, final: bool) -> None:
        for folder in folders:
            rows = self._buffers.row_count(folder)
            if rows == 0:
                continue
            columns = self._buffers.take(folder)
            size = round(self._folder_bytes.pop(folder, 0.0))
            started = time.perf_counter()
            try:
                path = self._writer.write(folder, columns)
            except Exception as exc:
                self._metrics.add("write_errors")
                if folder != QUARANTINE_RUN and self._quarantine(folder, columns, rows, exc):
                    self._release(rows, size)
                    continue
                self._buffers.put_back(folder, columns)
                self._folder_bytes[folder] = self._folder_bytes.get(folder, 0.0) + size
                log.error("cannot write %d spans for %s (kept, retrying): %s", rows, folder, exc)
                if not final:
                    time.sleep(0.5)  # let a full or read-only disk recover
                    continue
                self._give_up(folder, rows)
                continue
            self._metrics.observe_flush(time.perf_counter() - started)
            self._release(rows, size)
            self._metrics.add("spans_written", rows)
            self._metrics.add("parts_written")
            if folder == QUARANTINE_RUN:
                self._metrics.add("spans_quarantined", rows)
            log.debug("wrote %d spans to %s", rows, path)

    def _quarantine(self, folder: str, columns: dict, rows: int, error: Exception) -> bool:
        """Write a folder's rows to the quarantine; False when that fails too (disk-wide)."""
        try:
            self._writer.write(QUARANTINE_RUN, columns)
        except Exception:
            return False
        self._metrics.add("spans_quarantined", rows)
        self._metrics.add("spans_written", rows)
        self._metrics.add("parts_written")
        if folder not in self._quarantined and len(self._quarantined) < MAX_REMEMBERED_QUARANTINE:
            self._quarantined.add(folder)
            log.error(
                "run id %r cannot be written (%s): its spans go to %s from now on",
                folder,
                error,
                self._writer.spans_dir(QUARANTINE_RUN),
            )
        return True

    def _give_up(self, folder: str, rows: int) -> None:
        log.error(
            "shutting down with %d spans for %s that could not be written: "
            "free disk space or fix permissions on %s before the next run",
            rows,
            folder,
            self._writer.spans_dir(folder),
        )
