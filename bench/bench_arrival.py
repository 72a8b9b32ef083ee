"""The open-model generator: highest arrival rate it sustains, and per CPU core, tracing off/on.

    make bench-arrival     # or: python bench/bench_arrival.py --rates 250,500,1000,2000

Locust (one local process, profile `arrival`, the lab's own LabUser code path on
FastHttpUser) against bench_tracing_overhead.py's trivial loopback server, so the server is
never the bottleneck. For each rate, rising: schedule lag p99 of the scheduled requests (from
the record), late arrivals (the `arrivals` event), and the generator's CPU over the scheduled
part. A rate is sustained when lag p99 stays under LATE_ARRIVAL_S (lab/contract.py); the
figure is the highest sustained rate and that rate divided by the cores it used. Tracing off
is OTEL_SDK_DISABLED=true; on samples LAB_TRACE_SAMPLE_RATIO=0.1, exported to the same server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_tracing_overhead import start_server  # noqa: E402

from lab.contract import LATE_ARRIVAL_S, new_run_id  # noqa: E402

LOCUST = Path(sys.executable).with_name("locust")
USERS = 200  # the pool: far more than rate x the server's ~1 ms answers needs
SECONDS = 28  # 1 s spawn + 10 s sign-in allowance, then ~17 s of arrivals

LOCUSTFILE = """
from __future__ import annotations

import locust  # noqa: F401

# isort: split
from locust import FastHttpUser, task

from locustfiles import _plugin  # noqa: F401
from locustfiles._shapes import LabShape  # noqa: F401
from locustfiles._users import LabUser


class BenchArrivalUser(LabUser, FastHttpUser):
    @task
    def hit(self) -> None:
        self.client.get("/", name="/")
"""


def run_rate(workdir: Path, port: int, rate: float, tracing: bool) -> dict[str, float]:
    runs = workdir / "runs"
    runs.mkdir(exist_ok=True)
    credentials = {"users": [{"tenant_id": 1, "email": "bench@x.test", "password": "x"}]}
    (runs / "credentials.json").write_text(json.dumps(credentials))
    run_id = new_run_id("arrival")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LAB_"))}
    env.update(
        {
            "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}",
            "LAB_RUNS_DIR": str(runs),
            "LAB_RUN_ID": run_id,
            "LAB_PROFILE": "arrival",
            "LAB_RATE": f"{rate:g}",
            "LAB_USERS": str(USERS),
            "LAB_SPAWN_RATE": str(USERS),
            "LAB_DURATION": f"{SECONDS}s",
            "LAB_LOCUST_METRICS_PORT": "-1",
            "LAB_TRACE_SAMPLE_RATIO": "0.1" if tracing else "0",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        }
    )
    if not tracing:
        env["OTEL_SDK_DISABLED"] = "true"
    process = subprocess.Popen(
        [
            *(str(LOCUST), "-f", str(workdir / "locustfile.py"), "--headless"),
            *("--host", f"http://127.0.0.1:{port}", "--only-summary", "--loglevel", "WARNING"),
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watched = psutil.Process(process.pid)
    events = runs / run_id / "events.jsonl"
    deadline = time.monotonic() + 30
    plan = None
    while plan is None and time.monotonic() < deadline:
        time.sleep(0.2)
        if events.is_file():
            for line in events.read_text().splitlines():
                event = json.loads(line)
                if event["kind"] == "arrival_plan":
                    plan = event["detail"]
    if plan is None:
        process.kill()
        raise SystemExit("no arrival plan written: is the lab importable?")
    time.sleep(max(0.0, plan["t0"] + 1 - time.time()))
    cpu_start, wall_start = sum(watched.cpu_times()[:2]), time.time()
    end = plan["t0"] + plan["steps"][-1]["end_s"]
    time.sleep(max(1.0, end - 1 - time.time()))
    cpu_end, wall_end = sum(watched.cpu_times()[:2]), time.time()
    process.wait(timeout=SECONDS + 120)
    detail = next(
        (json.loads(x)["detail"] for x in events.read_text().splitlines() if '"arrivals"' in x),
        {},
    )
    parts = sorted((runs / run_id / "requests").glob("*/part-*.parquet"))
    table = pa.concat_tables(pq.read_table(p, columns=["schedule_lag_us"]) for p in parts)
    lags = table["schedule_lag_us"].drop_null()
    lag_p99 = float(pc.quantile(lags, q=0.99)[0].as_py()) / 1e6 if len(lags) else float("inf")
    cores = (cpu_end - cpu_start) / (wall_end - wall_start)
    return {
        "rate": rate,
        "achieved": len(lags) / (plan["steps"][-1]["end_s"]),
        "lag_p99_ms": lag_p99 * 1000,
        "late_ratio": float(detail.get("late_ratio", 1.0)),
        "cores": cores,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="250,500,1000,2000", help="tasks/s, rising")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    port = start_server()
    print(
        f"{'tracing':<8} {'rate/s':>7} {'achieved':>9} {'lag p99 ms':>11} {'late':>7} {'cores':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-arrival-") as tmp:
        workdir = Path(tmp)
        (workdir / "locustfile.py").write_text(LOCUSTFILE)
        for tracing in (False, True):
            best = None
            for rate in rates:
                r = run_rate(workdir, port, rate, tracing)
                label = "0.1" if tracing else "off"
                print(
                    f"{label:<8} {r['rate']:>7.0f} {r['achieved']:>9.1f} {r['lag_p99_ms']:>11.1f}"
                    f" {r['late_ratio']:>7.2%} {r['cores']:>6.2f}",
                    flush=True,
                )
                if r["lag_p99_ms"] >= LATE_ARRIVAL_S * 1000:
                    break
                best = r
            if best is None:
                print(f"tracing {label}: no rate sustained (lag p99 >= {LATE_ARRIVAL_S * 1000} ms)")
            else:
                print(
                    f"tracing {label}: sustained {best['rate']:.0f} tasks/s with lag p99 "
                    f"{best['lag_p99_ms']:.1f} ms on {best['cores']:.2f} cores = "
                    f"{best['rate'] / max(best['cores'], 1e-9):.0f} tasks/s per core"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
