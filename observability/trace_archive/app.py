"""Wire the archive together and run it until SIGTERM/SIGINT, then flush everything."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from observability.trace_archive.config import ArchiveConfig
from observability.trace_archive.metrics import ArchiveMetrics
from observability.trace_archive.pipeline import SpanPipeline
from observability.trace_archive.server import ArchiveHTTPServer
from observability.trace_archive.tail import TailSampler
from observability.trace_archive.writer import PartWriter

log = logging.getLogger("trace_archive")

PROGRESS_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 120.0


def serve(config: ArchiveConfig) -> int:
    """Run the archive; the exit status is 0 when every accepted span was written."""
    metrics = ArchiveMetrics()
    pipeline = SpanPipeline(
        PartWriter(config.runs_dir),
        metrics,
        max_queue_spans=config.max_queue_spans,
        max_queue_bytes=config.max_queue_bytes,
        flush_seconds=config.flush_seconds,
        batch_rows=config.batch_rows,
        tail=TailSampler(
            metrics,
            ratio=config.tail_ratio,
            hold_seconds=config.tail_hold_seconds,
            max_bytes=config.tail_max_bytes,
        )
        if config.tail
        else None,
    )
    if config.tail:
        log.info(
            "tail sampling: traces with a Locust span kept, others at ratio %g"
            " (held up to %g s, %d bytes)",
            config.tail_ratio,
            config.tail_hold_seconds,
            config.tail_max_bytes,
        )
    server = ArchiveHTTPServer((config.host, config.port), pipeline, metrics, config)
    host, port = server.server_address[:2]
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: refusing new spans, writing the rest", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pipeline.start()
    listener = threading.Thread(target=server.serve_forever, name="otlp-http", daemon=True)
    listener.start()
    log.info(
        "trace archive listening on http://%s:%d/v1/traces, writing to %s/<run_id>/spans/",
        host,
        port,
        config.runs_dir,
    )
    if config.ready_file is not None:
        config.ready_file.write_text(f"{port}\n")

    last_reported = (-1, -1, -1)
    while not stop.wait(PROGRESS_SECONDS):
        snapshot = (metrics.spans_received, metrics.spans_written, metrics.spans_dropped)
        if snapshot != last_reported:
            log.info(
                "spans received %d, written %d, dropped %d, queued %d",
                *snapshot,
                metrics.queue_spans,
            )
            last_reported = snapshot

    server.shutdown()
    server.server_close()
    complete = pipeline.stop(SHUTDOWN_TIMEOUT_SECONDS)
    log.info(
        "stopped: spans received %d, written %d, dropped %d",
        metrics.spans_received,
        metrics.spans_written,
        metrics.spans_dropped,
    )
    if not complete:
        log.error("%d accepted spans were not written", pipeline.pending_spans)
        return 1
    return 0
