"""The per-request record's memory over a long run: RSS after each million requests.

    python bench/bench_record_memory.py [--requests 3000000]      (make bench-record)

Feeds Locust's `events.request` arguments straight into the lab's RequestRecorder (the code
a worker runs for every request) as fast as it can, in one process, and prints the resident
memory after warm-up and after each further million. Flat means the buffer is bounded by its
flush (20,000 rows or 2 s) and nothing else accumulates; the Parquet parts land in a
temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from locustfiles._record import RequestRecorder  # noqa: E402 - after the path set-up

NAMES = ("/inventory/", "/inventory/[id]", "/dashboard/", "/api/inventory/", "/pos/checkout/")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3_000_000)
    args = parser.parse_args()
    if args.requests < 1_000_000:
        print("--requests must be at least 1000000 (one warm-up million)", file=sys.stderr)
        return 2
    process = psutil.Process()
    rng = random.Random(7)
    context = {"scenario": "TenantUser", "tenant_id": 3}
    with tempfile.TemporaryDirectory(prefix="bench-record-") as folder:
        recorder = RequestRecorder(Path(folder) / "local", "local", "bench-run")
        started = time.perf_counter()
        print(f"{'requests':>10} {'RSS MiB':>8} {'parts':>6} {'rows/s':>9}", flush=True)
        baseline = None
        for done in range(1, args.requests + 1):
            recorder.on_request(
                request_type="GET",
                name=NAMES[done % len(NAMES)],
                response_time=rng.uniform(2.0, 80.0),
                response_length=4096,
                context=context,
                start_time=time.time(),
            )
            if done % 1_000_000 == 0:
                rss = process.memory_info().rss / 2**20
                baseline = baseline or rss
                rate = done / (time.perf_counter() - started)
                print(
                    f"{done:>10} {rss:>8.1f} {recorder.parts_written:>6} {rate:>9.0f}", flush=True
                )
        recorder.flush()
        rss = process.memory_info().rss / 2**20
        rows = recorder.rows_written
    print(
        f"\nrecorded {rows} rows; RSS {rss:.1f} MiB at the end vs {baseline:.1f} MiB after the"
        f" first million: {rss - baseline:+.1f} MiB"
    )
    return 0 if rows == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
