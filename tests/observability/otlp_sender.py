"""A span sender for the archive's tests: the real SDK, BatchSpanProcessor and OTLP/HTTP exporter.

``python -m tests.observability.otlp_sender --endpoint URL --traces N --threads T --out ids.jsonl``
creates N traces per thread (task -> request CLIENT -> SERVER -> db CLIENT), exports
them and writes one JSON line per ended span: trace, span, parent and run id, so a
test can compare exactly what was sent with what the archive wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind


class RecordingProcessor(SpanProcessor):
    """Remembers the identity of every span that ended."""

    def __init__(self) -> None:
        self.records: list[dict[str, str | None]] = []
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        parent = span.parent.span_id if span.parent else None
        record = {
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
            "parent_span_id": f"{parent:016x}" if parent else None,
            "run_id": (span.attributes or {}).get("lab.run_id"),
        }
        with self._lock:
            self.records.append(record)


def send_traces(provider: TracerProvider, traces: int, run_ids: list[str], offset: int) -> None:
    tracer = provider.get_tracer("otlp_sender")
    for index in range(traces):
        run_id = run_ids[(index + offset) % len(run_ids)]
        attributes = {"lab.run_id": run_id} if run_id else {}
        server_attributes = {**attributes, "http.route": "/inventory/", "http.status_code": 200}
        db_attributes = {**attributes, "db.system": "postgresql", "db.statement": "SELECT 1"}
        with (
            tracer.start_as_current_span("task", attributes=attributes),
            tracer.start_as_current_span(
                "GET /inventory/", kind=SpanKind.CLIENT, attributes=attributes
            ),
            tracer.start_as_current_span(
                "GET /inventory/", kind=SpanKind.SERVER, attributes=server_attributes
            ),
            tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=db_attributes),
        ):
            pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--traces", type=int, required=True, help="traces per thread")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run-ids", default="run-a,run-b,", help="comma list; empty = no run id")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    recorder = RecordingProcessor()
    provider = TracerProvider(resource=Resource.create({"service.name": "locust"}))
    provider.add_span_processor(recorder)
    exporter = OTLPSpanExporter(
        endpoint=args.endpoint,
        timeout=30,
        compression=Compression.Gzip if args.gzip else Compression.NoCompression,
    )
    # Queue sized for the whole burst: the test is about the archive, not the SDK's queue.
    total_spans = args.traces * args.threads * 4
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=total_spans + 1, max_export_batch_size=512)
    )
    run_ids = args.run_ids.split(",")
    workers = [
        threading.Thread(target=send_traces, args=(provider, args.traces, run_ids, offset))
        for offset in range(args.threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    flushed = provider.force_flush(timeout_millis=120_000)
    provider.shutdown()
    if args.out is not None:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in recorder.records))
    print(f"sent {len(recorder.records)} spans, flushed={flushed}", file=sys.stderr)
    return 0 if flushed else 1


if __name__ == "__main__":
    sys.exit(main())
