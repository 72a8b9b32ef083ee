"""Benchmark: spans/s the trace archive sustains, and its memory, under several OTLP senders.

    PYTHONPATH=app:. .venv/bin/python bench/bench_trace_archive.py [--senders 3] [--seconds 20]

Starts the archive as a subprocess on a free loopback port (default settings:
1 s flush, default queue), then SENDERS processes post pre-encoded OTLP/protobuf
requests of 512 realistic spans as fast as the archive answers, for SECONDS.
Prints the sustained rate (spans written / elapsed, measured at the archive),
refused spans, the archive's peak RSS and its CPU time. Bounded in time and count.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "app")]

from lab.contract import span_parts_of_all_runs  # noqa: E402
from tests.observability.archive_process import start_archive  # noqa: E402

SPANS_PER_REQUEST = 512
MAX_REQUESTS_PER_SENDER = 20_000


def _attr(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def realistic_request(seed: int) -> bytes:
    """One export of the shape a load run sends: Django server spans and SQL client spans."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [_attr("service.name", "jewelry-app"), _attr("service.version", "abc1234")]
    )
    scope = resource_spans.scope_spans.add()
    now = time.time_ns()
    for index in range(SPANS_PER_REQUEST):
        span = scope.spans.add()
        span.trace_id = (seed * 1_000_003 + index // 8).to_bytes(16, "big")
        span.span_id = (seed * 10_000 + index + 1).to_bytes(8, "big")
        span.start_time_unix_nano = now + index * 1000
        span.end_time_unix_nano = now + index * 1000 + 5_000_000
        common = [
            _attr("lab.run_id", "20260101-000000-load-beef"),
            _attr("synthetic_request", "true"),
        ]
        if index % 8 == 0:
            span.name = "GET /inventory/"
            span.kind = Span.SPAN_KIND_SERVER
            span.attributes.extend(
                [
                    *common,
                    _attr("http.route", "/inventory/"),
                    _attr("http.request.method", "GET"),
                    _attr("http.response.status_code", 200),
                    _attr("url.path", "/inventory/?page=3&category=rings"),
                    _attr("user_agent.original", "python-requests/2.32"),
                ]
            )
        else:
            span.name = "SELECT"
            span.kind = Span.SPAN_KIND_CLIENT
            span.parent_span_id = (seed * 10_000 + index - index % 8 + 1).to_bytes(8, "big")
            span.attributes.extend(
                [
                    *common,
                    _attr("db.system", "postgresql"),
                    _attr("db.name", "jewelry"),
                    _attr(
                        "db.statement",
                        'SELECT "inventory_item"."id", "inventory_item"."sku",'
                        ' "inventory_item"."name" FROM "inventory_item"'
                        ' WHERE "inventory_item"."tenant_id" = %s LIMIT 25',
                    ),
                    _attr("net.peer.name", "pgbouncer"),
                    _attr("net.peer.port", 6432),
                ]
            )
    return request.SerializeToString()


def sender(
    url: str,
    seconds: float,
    interval: float,
    seed: int,
    results: multiprocessing.Queue[tuple[int, int]],
) -> None:
    """Post for `seconds`; one request per `interval` seconds (0: as fast as answered)."""
    bodies = [realistic_request(seed * 100 + i) for i in range(4)]
    session = requests.Session()
    headers = {"Content-Type": "application/x-protobuf"}
    accepted = refused = 0
    started = time.monotonic()
    deadline = started + seconds
    for count in range(MAX_REQUESTS_PER_SENDER):
        now = time.monotonic()
        if now >= deadline:
            break
        if interval:
            time.sleep(max(0.0, started + count * interval - now))
        response = session.post(url, data=bodies[count % 4], headers=headers, timeout=10)
        if response.status_code == 200:
            accepted += SPANS_PER_REQUEST
        else:
            refused += SPANS_PER_REQUEST
    results.put((accepted, refused))


def process_stats(pid: int) -> tuple[int, float]:
    """Peak RSS in bytes and CPU seconds (user + system) of a live process."""
    peak_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak_kib = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return peak_kib * 1024, (int(fields[11]) + int(fields[12])) / ticks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="total spans/s to offer (0: as fast as possible)"
    )
    args = parser.parse_args()
    interval = args.senders * SPANS_PER_REQUEST / args.rate if args.rate else 0.0
    offered = f"{args.rate:,.0f} spans/s" if args.rate else "as fast as answered"

    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        runs_dir = Path(tmp) / "runs"
        archive = start_archive(runs_dir, Path(tmp) / "archive.log")
        try:
            results: multiprocessing.Queue[tuple[int, int]] = multiprocessing.Queue()
            workers = [
                multiprocessing.Process(
                    target=sender,
                    args=(archive.traces_url, args.seconds, interval, seed, results),
                )
                for seed in range(args.senders)
            ]
            print(
                f"{args.senders} senders x {SPANS_PER_REQUEST} spans/request, {offered}, "
                f"for {args.seconds:.0f} s ...",
                flush=True,
            )
            started = time.monotonic()
            for worker in workers:
                worker.start()
            last = 0.0
            while any(worker.is_alive() for worker in workers):
                time.sleep(1)
                written = archive.metrics()["trace_archive_spans_written_total"]
                elapsed = time.monotonic() - started
                print(
                    f"  {elapsed:5.1f} s: written {written:,.0f} ({written - last:,.0f}/s), "
                    f"queued {archive.metrics()['trace_archive_queue_spans']:,.0f}",
                    flush=True,
                )
                last = written
            totals = [results.get(timeout=30) for _ in workers]
            for worker in workers:
                worker.join()
            accepted = sum(a for a, _ in totals)
            refused = sum(r for _, r in totals)
            while archive.metrics()["trace_archive_spans_written_total"] < accepted:
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            peak_rss, cpu = process_stats(archive.process.pid)
            metrics = archive.metrics()
        finally:
            archive.stop(signal.SIGTERM)
        parts = span_parts_of_all_runs(runs_dir)
        size = sum(part.stat().st_size for part in parts)
        written = metrics["trace_archive_spans_written_total"]
        print(f"spans accepted      {accepted:,}")
        dropped = metrics["trace_archive_spans_dropped_total"]
        print(f"spans refused (503) {refused:,}  (archive counted {dropped:,.0f})")
        print(
            f"sustained           {written / elapsed:,.0f} spans/s written "
            f"({elapsed:.1f} s from first send to all on disk)"
        )
        print(f"archive peak RSS    {peak_rss / 2**20:,.0f} MiB")
        print(f"archive CPU         {cpu:.1f} s ({cpu / elapsed:.0%} of one core)")
        print(f"parts               {len(parts)}, {size / max(written, 1):.0f} bytes/span on disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
