"""The archive's own counters, served at GET /metrics in the Prometheus text format."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

FLUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class ArchiveMetrics:
    spans_received: int = 0
    spans_written: int = 0
    spans_dropped: int = 0
    requests_rejected: int = 0
    bad_requests: int = 0
    parts_written: int = 0
    write_errors: int = 0
    spans_quarantined: int = 0
    requests_busy: int = 0
    queue_spans: int = 0
    queue_capacity_spans: int = 0
    queue_bytes: int = 0
    queue_capacity_bytes: int = 0
    tail_traces_kept: int = 0
    tail_traces_dropped: int = 0
    tail_traces_evicted: int = 0
    tail_spans_held: int = 0
    tail_spans_dropped: int = 0
    tail_held_bytes: int = 0
    tail_capacity_bytes: int = 0
    flush_count: int = 0
    flush_seconds_sum: float = 0.0
    flush_bucket_counts: list[int] = field(default_factory=lambda: [0] * len(FLUSH_BUCKETS))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)

    def observe_flush(self, seconds: float) -> None:
        with self.lock:
            self.flush_count += 1
            self.flush_seconds_sum += seconds
            for index, bound in enumerate(FLUSH_BUCKETS):
                if seconds <= bound:
                    self.flush_bucket_counts[index] += 1

    def render(self) -> str:
        with self.lock:
            lines = [
                *_counter(
                    "trace_archive_spans_received_total",
                    "Spans accepted into the queue.",
                    self.spans_received,
                ),
                *_counter(
                    "trace_archive_spans_written_total",
                    "Spans written to Parquet parts.",
                    self.spans_written,
                ),
                *_counter(
                    "trace_archive_spans_dropped_total",
                    "Spans refused with a retryable 503 because the queue was full.",
                    self.spans_dropped,
                ),
                *_counter(
                    "trace_archive_requests_rejected_total",
                    "Export requests refused with 503 (queue full or shutting down).",
                    self.requests_rejected,
                ),
                *_counter(
                    "trace_archive_bad_requests_total",
                    "Export requests refused as undecodable (400/413/415).",
                    self.bad_requests,
                ),
                *_counter(
                    "trace_archive_parts_written_total",
                    "Parquet parts renamed into place.",
                    self.parts_written,
                ),
                *_counter(
                    "trace_archive_write_errors_total",
                    "Failed part writes (rows kept and retried).",
                    self.write_errors,
                ),
                *_counter(
                    "trace_archive_spans_quarantined_total",
                    "Spans of run ids whose folder cannot be written, kept in _quarantine.",
                    self.spans_quarantined,
                ),
                *_counter(
                    "trace_archive_requests_busy_total",
                    "Export requests refused with 503 because every handler slot was busy.",
                    self.requests_busy,
                ),
                *_counter(
                    "trace_archive_tail_traces_kept_total",
                    "Traces the tail sampling policy kept (in the ratio or with a Locust span).",
                    self.tail_traces_kept,
                ),
                *_counter(
                    "trace_archive_tail_traces_dropped_total",
                    "Held traces dropped by the policy: no Locust span came within the hold time.",
                    self.tail_traces_dropped,
                ),
                *_counter(
                    "trace_archive_tail_traces_evicted_total",
                    "Held traces dropped early because the hold buffer was full (bytes).",
                    self.tail_traces_evicted,
                ),
                *_counter(
                    "trace_archive_tail_spans_held_total",
                    "Spans held for a tail sampling verdict.",
                    self.tail_spans_held,
                ),
                *_counter(
                    "trace_archive_tail_spans_dropped_total",
                    "Held spans dropped by the policy (not lost: their trace was not kept).",
                    self.tail_spans_dropped,
                ),
                "# HELP trace_archive_tail_held_bytes Bytes of spans held for a verdict.",
                "# TYPE trace_archive_tail_held_bytes gauge",
                f"trace_archive_tail_held_bytes {self.tail_held_bytes}",
                "# HELP trace_archive_tail_capacity_bytes Bytes the hold buffer may use.",
                "# TYPE trace_archive_tail_capacity_bytes gauge",
                f"trace_archive_tail_capacity_bytes {self.tail_capacity_bytes}",
                "# HELP trace_archive_queue_bytes Protobuf bytes accepted but not yet written.",
                "# TYPE trace_archive_queue_bytes gauge",
                f"trace_archive_queue_bytes {self.queue_bytes}",
                "# HELP trace_archive_queue_capacity_bytes Bytes the queue holds before refusing.",
                "# TYPE trace_archive_queue_capacity_bytes gauge",
                f"trace_archive_queue_capacity_bytes {self.queue_capacity_bytes}",
                "# HELP trace_archive_queue_spans Spans accepted but not yet written.",
                "# TYPE trace_archive_queue_spans gauge",
                f"trace_archive_queue_spans {self.queue_spans}",
                "# HELP trace_archive_queue_capacity_spans Spans the queue holds before refusing.",
                "# TYPE trace_archive_queue_capacity_spans gauge",
                f"trace_archive_queue_capacity_spans {self.queue_capacity_spans}",
                "# HELP trace_archive_flush_seconds Time to write one Parquet part.",
                "# TYPE trace_archive_flush_seconds histogram",
            ]
            for bound, count in zip(FLUSH_BUCKETS, self.flush_bucket_counts, strict=True):
                lines.append(f'trace_archive_flush_seconds_bucket{{le="{bound}"}} {count}')
            lines.append(f'trace_archive_flush_seconds_bucket{{le="+Inf"}} {self.flush_count}')
            lines.append(f"trace_archive_flush_seconds_sum {self.flush_seconds_sum}")
            lines.append(f"trace_archive_flush_seconds_count {self.flush_count}")
        return "\n".join(lines) + "\n"


def _counter(name: str, help_text: str, value: int) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {value}"]
