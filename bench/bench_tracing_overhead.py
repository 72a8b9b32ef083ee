"""What tracing costs the load generator: requests/s per CPU-second, tracing on vs off.

For HttpUser and FastHttpUser alike, Locust runs the lab's own code path (`LabUser`: task
span, client request wrapper, per-request record) against a trivial keep-alive HTTP server
this script starts on loopback, so the server is never the bottleneck. Spans are exported
over OTLP/HTTP to the same server (it answers 200 to anything). Tracing "off" is
`OTEL_SDK_DISABLED=true`; "on" samples LAB_TRACE_SAMPLE_RATIO (default 0.1).

    make bench-tracing                # or: python bench/bench_tracing_overhead.py --seconds 10
Target: tracing costs FastHttpUser no more than 20 % of its requests/s per core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from lab.contract import credentials_file, new_run_id, run_folder  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ok_server import start_server  # noqa: E402

LOCUST = Path(sys.executable).with_name("locust")
WARMUP_S = 4

BENCH_LOCUSTFILE = """
from __future__ import annotations

import locust  # noqa: F401

# isort: split
from locust import FastHttpUser, HttpUser, constant, task

from locustfiles import _plugin  # noqa: F401
from locustfiles._shapes import LabShape  # noqa: F401
from locustfiles._users import LabUser


class BenchHttpUser(LabUser, HttpUser):
    wait_time = constant(0.001)  # a timer wait lets gevent run its timers (shape, flushes)

    @task
    def hit(self) -> None:
        self.client.get("/", name="/")


class BenchFastHttpUser(LabUser, FastHttpUser):
    wait_time = constant(0.001)  # a timer wait lets gevent run its timers (shape, flushes)

    @task
    def hit(self) -> None:
        self.client.get("/", name="/")
"""


@dataclass
class Result:
    user_class: str
    tracing: bool
    requests: int
    cpu_seconds: float

    @property
    def per_core(self) -> float:
        return self.requests / self.cpu_seconds if self.cpu_seconds else 0.0


def run_once(
    workdir: Path, port: int, user_class: str, tracing: bool, seconds: int, users: int
) -> Result:
    runs = workdir / "runs"
    runs.mkdir(exist_ok=True)
    credentials = {"users": [{"tenant_id": 1, "email": "bench@x.test", "password": "x"}]}
    credentials_file(runs).write_text(json.dumps(credentials))
    run_id = new_run_id(f"bench_{user_class.lower()}_{'on' if tracing else 'off'}")
    csv_prefix = workdir / run_id / "stats"
    csv_prefix.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LAB_"))}
    env.update(
        {
            "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}",
            "LAB_RUNS_DIR": str(runs),
            "LAB_RUN_ID": run_id,
            "LAB_PROFILE": "smoke",
            "LAB_USERS": str(users),
            "LAB_SPAWN_RATE": str(users),
            "LAB_DURATION": f"{seconds}s",
            "LAB_SCENARIO": user_class,
            "LAB_LOCUST_METRICS_PORT": "-1",
            "LAB_TRACE_SAMPLE_RATIO": os.environ.get("LAB_TRACE_SAMPLE_RATIO", "0.1"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        }
    )
    if not tracing:
        env["OTEL_SDK_DISABLED"] = "true"
    command = [
        str(LOCUST),
        "-f",
        str(workdir / "bench_locustfile.py"),
        "--headless",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    process = subprocess.Popen(
        command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # Steady state only: skip start-up (imports, spawning) and the end (checks, flushes).
    watched = psutil.Process(process.pid)
    time.sleep(WARMUP_S)
    cpu_start, wall_start = sum(watched.cpu_times()[:2]), time.time()
    time.sleep(seconds - WARMUP_S - 1)
    cpu_end, wall_end = sum(watched.cpu_times()[:2]), time.time()
    process.wait(timeout=seconds + 120)
    parts = run_folder(runs, run_id).request_parts()
    starts = pa.concat_tables(pq.read_table(p, columns=["ts_start_us"]) for p in parts)
    in_window = pc.and_(
        pc.greater_equal(starts["ts_start_us"], int(wall_start * 1e6)),
        pc.less(starts["ts_start_us"], int(wall_end * 1e6)),
    )
    requests = pc.sum(in_window.cast(pa.int64())).as_py() or 0
    return Result(user_class, tracing, requests, cpu_end - cpu_start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each run (>= 8)")
    parser.add_argument("--users", type=int, default=20, help="users per run (no wait time)")
    args = parser.parse_args()
    port = start_server()
    results: dict[tuple[str, bool], Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tracing-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_locustfile.py").write_text(BENCH_LOCUSTFILE)
        for user_class in ("BenchHttpUser", "BenchFastHttpUser"):
            for tracing in (False, True):
                label = f"{user_class} tracing {'on' if tracing else 'off'}"
                print(f"running {label} for {args.seconds}s …", file=sys.stderr, flush=True)
                result = run_once(workdir, port, user_class, tracing, args.seconds, args.users)
                results[(user_class, tracing)] = result
                print(
                    f"  {result.requests} requests, {result.cpu_seconds:.1f} CPU-s, "
                    f"{result.per_core:.0f} req/s per core",
                    file=sys.stderr,
                )
    print(
        f"\n{'client':<20} {'off req/s/core':>15} {'on req/s/core':>15} {'on/off':>8} {'cost':>7}"
    )
    verdict = 0
    for user_class in ("BenchHttpUser", "BenchFastHttpUser"):
        off, on = results[(user_class, False)], results[(user_class, True)]
        ratio = on.per_core / off.per_core if off.per_core else 0.0
        name = user_class.removeprefix("Bench")
        print(
            f"{name:<20} {off.per_core:>15.0f} {on.per_core:>15.0f} {ratio:>8.2f} {1 - ratio:>7.1%}"
        )
        if user_class == "BenchFastHttpUser" and 1 - ratio > 0.20:
            verdict = 1
    print(
        "target: tracing costs FastHttpUser <= 20 % -> "
        + ("MISSED" if verdict else "met")
        + f" (sample ratio {os.environ.get('LAB_TRACE_SAMPLE_RATIO', '0.1')})"
    )
    return verdict


if __name__ == "__main__":
    sys.exit(main())
