"""Benchmark `lab report` on generated runs: 1 M requests + 1 M spans, then 10 M + 10 M.

Targets: under 30 s and under 1 GiB peak RSS on the lab machine (2 cores) at both sizes
(10 M requests and spans is a 24-hour soak at ~100 requests/s, fully traced). Each report
runs as its own process so its peak RSS (ru_maxrss of that child) is measured alone,
without the generator's memory. The report includes its trace waterfalls.

Usage: python bench/bench_report.py [--sizes 1000000,10000000] [--requests N --spans N] [--keep]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "app")]

from tests.synthetic import generate_bulk_requests, generate_bulk_spans, write_meta  # noqa: E402

START_US = 1_767_225_600_000_000
DURATION_S = 3600.0
TARGET_S = 30.0
TARGET_RSS_GIB = 1.0


def bench_one(requests: int, spans: int, keep: bool) -> bool:
    root = Path(tempfile.mkdtemp(prefix="bench-report-"))
    run_dir = root / "20260101-000000-load-be0c"
    try:
        print(f"generating {requests:,} requests and ~{spans:,} spans in {run_dir} ...", flush=True)
        started = time.perf_counter()
        write_meta(
            run_dir, started_at="2026-01-01T00:00:00+00:00", ended_at="2026-01-01T01:00:00+00:00"
        )
        parts = max(20, requests // 500_000)
        generate_bulk_requests(
            run_dir, requests, start_us=START_US, duration_s=DURATION_S, parts=parts
        )
        generate_bulk_spans(run_dir, spans, start_us=START_US, duration_s=DURATION_S, parts=parts)
        print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "lab", "--runs-dir", str(root), "report", run_dir.name],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        # ru_maxrss of children is the largest child so far: measure the small size first.
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = usage.ru_maxrss
        # CPU seconds (all DuckDB threads) say what the report costs on a busy machine too.
        cpu_s = usage.ru_utime + usage.ru_stime - cpu_before
        rss_gib = peak / 1024 / 1024
        print(result.stdout.strip())
        if result.returncode not in (0, 1):
            print(result.stderr, file=sys.stderr)
            return False
        ok = elapsed < TARGET_S and rss_gib < TARGET_RSS_GIB
        grew = "" if peak > before else " (no higher than the previous size's)"
        print(
            f"lab report, {requests:,} requests + {spans:,} spans: {elapsed:.1f} s "
            f"(target < {TARGET_S:.0f} s; {cpu_s:.1f} CPU s), peak RSS {rss_gib:.2f} GiB{grew} "
            f"(target < {TARGET_RSS_GIB:.0f} GiB): {'OK' if ok else 'MISSED'}",
            flush=True,
        )
        return ok
    finally:
        if keep:
            print(f"kept {run_dir}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000000,10000000",
        help="comma-separated N: a run of N requests and ~N spans each, smallest first",
    )
    parser.add_argument("--requests", type=int, help="one run of this many requests (with --spans)")
    parser.add_argument("--spans", type=int, help="one run with about this many spans")
    parser.add_argument("--keep", action="store_true", help="keep the generated run folders")
    args = parser.parse_args()
    if args.requests or args.spans:
        sizes = [(args.requests or 1_000_000, args.spans or 1_000_000)]
    else:
        sizes = [(int(n), int(n)) for n in sorted(int(x) for x in args.sizes.split(","))]
    results = [bench_one(requests, spans, args.keep) for requests, spans in sizes]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
