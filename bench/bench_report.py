"""Benchmark `lab report` on a generated run of 1,000,000 requests and 1,000,000 spans.

Target (issue 7): under 30 s and under 2 GiB peak RSS on the lab machine (2 cores).
The report runs as its own process so its peak RSS (ru_maxrss of the child) is
measured alone, without the generator's memory.

Usage: python bench/bench_report.py [--requests N] [--spans N] [--keep]
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

from lab.synthetic import generate_bulk_requests, generate_bulk_spans, write_meta  # noqa: E402

START_US = 1_767_225_600_000_000
DURATION_S = 3600.0
TARGET_S = 30.0
TARGET_RSS_GIB = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated run folder")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-report-"))
    run_dir = root / "20260101-000000-load-be0c"
    try:
        print(
            f"generating {args.requests:,} requests and ~{args.spans:,} spans in {run_dir} ...",
            flush=True,
        )
        started = time.perf_counter()
        write_meta(
            run_dir, started_at="2026-01-01T00:00:00+00:00", ended_at="2026-01-01T01:00:00+00:00"
        )
        generate_bulk_requests(
            run_dir, args.requests, start_us=START_US, duration_s=DURATION_S, parts=20
        )
        generate_bulk_spans(run_dir, args.spans, start_us=START_US, duration_s=DURATION_S, parts=20)
        print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)

        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "lab", "--runs-dir", str(root), "report", run_dir.name],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        rss_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
        print(result.stdout.strip())
        if result.returncode not in (0, 1):
            print(result.stderr, file=sys.stderr)
            return result.returncode
        ok = elapsed < TARGET_S and rss_gib < TARGET_RSS_GIB
        print(
            f"lab report: {elapsed:.1f} s (target < {TARGET_S:.0f} s), peak RSS {rss_gib:.2f} GiB "
            f"(target < {TARGET_RSS_GIB:.0f} GiB): {'OK' if ok else 'MISSED'}"
        )
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {run_dir}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
