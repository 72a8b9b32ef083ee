"""Drive one headless Locust run inside the Compose lab, as `lab run --compose` does, but with
the lab's selected compose files (the offline override included) and free host ports.

Usage: python tests/e2e/compose_smoke.py --duration 60s --workers 2 --users 10
Prints the run id on the last line of stdout; the exit code is Locust's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lab.meta import initial_meta, write_meta
from lab.runs_dir import new_run_id

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = ["bash", str(REPO_ROOT / "scripts" / "lab-stack.sh"), "compose"]
# Longest a smoke run may take beyond its duration (spawn, worker stop, report writing).
GRACE_S = 180


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", default="60s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=5.0)
    parser.add_argument("--trace-sample-ratio", type=float, default=1.0)
    return parser.parse_args(argv)


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(duration[:-1]) * units[duration[-1]] if duration[-1] in units else int(duration)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = new_run_id("smoke")
    run_dir = REPO_ROOT / "runs" / run_id
    (run_dir / "locust").mkdir(parents=True)
    command = [*STACK, "up", "--no-deps", "--force-recreate", "--exit-code-from", "locust-master",
               "locust-master", "locust-worker"]  # fmt: skip
    env = {
        **os.environ,
        "LAB_RUN_ID": run_id,
        "LAB_PROFILE": "smoke",
        "LAB_DURATION": args.duration,
        "LAB_USERS": str(args.users),
        "LAB_SPAWN_RATE": f"{args.spawn_rate:g}",
        "LAB_WORKERS": str(args.workers),
        "LAB_TRACE_SAMPLE_RATIO": f"{args.trace_sample_ratio:g}",
    }
    meta = initial_meta(
        run_id=run_id,
        profile="smoke",
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration=args.duration,
        workers=args.workers,
        scenario=None,
        scale=os.environ.get("LAB_SCALE", "small"),
        target="http://app:8000",
        mode="compose",
        command=command,
    )
    write_meta(run_dir, meta)
    print(f"[e2e] run {run_id}: smoke, {args.users} users, {args.workers} workers, {args.duration}",
          file=sys.stderr)  # fmt: skip
    started = time.monotonic()
    with (run_dir / "locust" / "locust.log").open("ab") as log:
        try:
            proc = subprocess.run(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                timeout=seconds(args.duration) + GRACE_S, check=False,
            )  # fmt: skip
            code = proc.returncode
        except subprocess.TimeoutExpired:
            print("[e2e] the run overran its duration: stopping Locust", file=sys.stderr)
            subprocess.run([*STACK, "stop", "locust-master", "locust-worker"], check=False)
            code = 124
    print(f"[e2e] Locust exited {code} after {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(run_id)
    return code


if __name__ == "__main__":
    sys.exit(main())
