"""Proof: a planted stall, closed loop vs open model at a matched rate; the lab against wrk.

    .venv/bin/python -m tests.harness -- .venv/bin/python bench/stall_proof.py \
        [--rate 10] [--seconds 90] [--wrk-connections 4] [--wrk-seconds 30]

(`make stall-proof`.) One shop in the harness PostgreSQL (through PgBouncer), gunicorn with
the lab's config on free loopback ports, Locust as a local process on `GET /api/inventory/`
(bench/locust_inventory_api.py), tracing off.

1. LAB_FAULTS=stall (1.5 s pause every --stall-every s, 20): profile `arrival` at RATE tasks/s
   twice, closed (LAB_MODEL=closed: --closed-users users, 4, each paced by Locust's
   constant_throughput, as a closed-loop generator does) and open (an arrival schedule served
   by max(20, 2 x RATE) users, --open-users). Printed: the closed run's measured p99 beside the open
   run's measured and corrected p99, over the scheduled part of each run (after the
   sign-in); then both again on the clean app (1b).
2. A clean app: wrk (closed loop, C connections) and, at the same time, the lab in the same
   closed loop (C users, LAB_MODEL=closed at a rate no user can reach: back to back, as wrk).
   Printed: both p50/p95 over wrk's window and the ratio; the lab should be within 10 %.

Every loop is bounded (each run has a duration; wrk has -d); gunicorn is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api_inventory import obtain_token
from bench_pos_checkout import PASSWORD, free_port, prepare_shop, start_gunicorn, stop

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO_ROOT / "bench" / "locust_inventory_api.py"
STALL_S = "1.5"
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %.3f %.3f %.3f %d\\n", summary.requests,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.duration))
end
"""


def start_locust(
    base: str, runs: Path, run_id: str, env: dict[str, str], seconds: int
) -> tuple[Path, subprocess.Popen[bytes]]:
    run_dir = runs / run_id
    (run_dir / "locust").mkdir(parents=True)
    child = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "OTEL_"))}
    child.update(
        {
            "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}",
            "LAB_RUNS_DIR": str(runs),
            "LAB_RUN_ID": run_id,
            "LAB_PROFILE": "arrival",
            "LAB_DURATION": f"{seconds}s",
            "LAB_LOCUST_METRICS_PORT": "-1",
            "LAB_TRACE_SAMPLE_RATIO": "0",
            "OTEL_SDK_DISABLED": "true",
            **env,
        }
    )
    print(f"  locust {run_id}: {env} for {seconds} s ...", flush=True)
    command = [
        str(Path(sys.executable).with_name("locust")),
        *("-f", str(LOCUSTFILE), "--headless", "--host", base, "--only-summary"),
        *("--csv", str(run_dir / "locust" / "stats")),
    ]
    log = (run_dir / "locust" / "locust.log").open("wb")
    process = subprocess.Popen(command, env=child, cwd=REPO_ROOT, stdout=log, stderr=log)
    return run_dir, process


def run_locust(
    base: str, runs: Path, run_id: str, env: dict[str, str], seconds: int
) -> tuple[Path, int]:
    run_dir, process = start_locust(base, runs, run_id, env, seconds)
    return run_dir, process.wait(timeout=seconds + 120)


def wait_for_plan(run_dir: Path, timeout_s: float) -> float:
    """t0 of the run's arrival plan, once the master has fixed it."""
    deadline = time.monotonic() + timeout_s
    events = run_dir / "events.jsonl"
    while time.monotonic() < deadline:
        if events.is_file():
            for line in events.read_text().splitlines():
                event = json.loads(line)
                if event["kind"] == "arrival_plan":
                    return float(event["detail"]["t0"])
        time.sleep(0.2)
    raise SystemExit(f"no arrival plan in {events} after {timeout_s:.0f} s")


def scheduled_rows(run_dir: Path) -> tuple[pa.Table, float]:
    """The requests after the sign-in (from the plan's t0), and that part's length in s."""
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    plan = next(e["detail"] for e in events if e["kind"] == "arrival_plan")
    t0 = plan["t0"]
    end = t0 + plan["steps"][-1]["end_s"]
    parts = sorted((run_dir / "requests").glob("*/part-*.parquet"))
    table = pa.concat_tables(pq.read_table(p) for p in parts)
    keep = pc.and_(
        pc.greater_equal(table["ts_start_us"], int(t0 * 1e6)),
        pc.equal(table["name"], "/api/inventory/"),
    )
    return table.filter(keep), end - t0


def quantile_ms(values: pa.ChunkedArray | pa.Array, q: float) -> float:
    return float(pc.quantile(values, q=q, interpolation="linear")[0].as_py()) / 1000


def late_ratio(run_dir: Path) -> str:
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "arrivals":
            return f"{event['detail']['late_ratio']:.1%}"
    return "-"


def model_runs(
    base: str,
    runs: Path,
    rate: float,
    seconds: int,
    tag: str,
    closed_users: int,
    open_users: int = 0,
) -> list[str]:
    """Closed (paced users) then open (a schedule) at `rate`: table rows to print."""
    common = {"LAB_RATE": f"{rate:g}", "LAB_SPAWN_RATE": "20"}
    closed, _ = run_locust(
        base,
        runs,
        f"20260101-000000-arrival-c{tag}",
        {**common, "LAB_MODEL": "closed", "LAB_USERS": str(closed_users)},
        seconds,
    )
    users = open_users or max(20, int(2 * rate))
    opened, _ = run_locust(
        base,
        runs,
        f"20260101-000000-arrival-0{tag}",
        {**common, "LAB_MODEL": "open", "LAB_USERS": str(users)},
        seconds,
    )
    c_rows, c_len = scheduled_rows(closed)
    o_rows, o_len = scheduled_rows(opened)
    corrected = pc.add(o_rows["response_time_us"], o_rows["schedule_lag_us"])
    lines = []
    for label, values, n, length, late in (
        (f"closed, {closed_users} users, measured", c_rows["response_time_us"], c_rows.num_rows,
         c_len, "-"),
        (f"open, {users} users, measured", o_rows["response_time_us"], o_rows.num_rows, o_len,
         late_ratio(opened)),
        (f"open, {users} users, corrected", corrected, o_rows.num_rows, o_len, ""),
    ):  # fmt: skip
        lines.append(
            f"{label:<32} {n / length:>7.1f} {quantile_ms(values, 0.5):>8.1f}"
            f" {quantile_ms(values, 0.99):>8.1f} {quantile_ms(values, 0.999):>9.1f} {late:>6}"
        )
    return lines


HEADER = f"{'run':<32} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'late':>6}"


def stall_comparison(args: argparse.Namespace, base: str, runs: Path) -> None:
    print(
        f"\n1. LAB_FAULTS=stall ({STALL_S} s every {args.stall_every:g} s), {args.rate:g} tasks/s"
    )
    lines = model_runs(
        base, runs, args.rate, args.seconds, "5a1", args.closed_users, args.open_users
    )
    print(HEADER, *lines, sep="\n")


def wrk_comparison(base: str, runs: Path, token: str, connections: int, seconds: int) -> None:
    """wrk and the lab at the same time, each a closed loop of `connections`: both measure
    the app under the same load at the same moments (on a shared machine, runs one after the
    other would compare two machine conditions, not two generators)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not installed: `make bootstrap` (Debian package wrk)", file=sys.stderr)
        raise SystemExit(2)
    print(f"\n2. clean app, wrk and the lab together, each a closed loop of {connections}")
    lab_dir, lab = start_locust(
        base,
        runs,
        "20260101-000000-arrival-3c3c",
        {
            "LAB_MODEL": "closed",
            "LAB_USERS": str(connections),
            "LAB_RATE": "100000",  # beyond reach: each user sends back to back, as wrk does
            "LAB_SPAWN_RATE": str(connections),
        },
        2 * seconds + 30,  # the plan starts by half the run at the latest
    )
    try:
        t0 = wait_for_plan(lab_dir, seconds + 30)
        time.sleep(max(0.0, t0 + 2 - time.time()))  # the lab's users are sending
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        command = [
            wrk,
            *("-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name),
            *("-H", f"Authorization: Bearer {token}"),
            f"{base}/api/inventory/?page=1",
        ]
        print("  " + " ".join(command).replace(token, "<token>"), flush=True)
        started = time.time()
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        ended = time.time()
        os.unlink(script.name)
    finally:
        lab.send_signal(signal.SIGTERM)  # stops like Ctrl-C: the record is flushed
        lab.wait(timeout=120)
    line = next(x for x in output.stdout.splitlines() if x.startswith("WRK "))
    requests, p50, p95, _p99, duration_us = line.split()[1:]
    wrk_rate = int(requests) / (int(duration_us) / 1e6)
    rows, _length = scheduled_rows(lab_dir)
    during = rows.filter(
        pc.and_(
            pc.greater_equal(rows["ts_start_us"], int(started * 1e6)),
            pc.less(rows["ts_start_us"], int(ended * 1e6)),
        )
    )
    lab_p50 = quantile_ms(during["response_time_us"], 0.5)
    lab_p95 = quantile_ms(during["response_time_us"], 0.95)
    print(f"{'generator':<10} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'wrk':<10} {wrk_rate:>7.1f} {float(p50):>8.1f} {float(p95):>8.1f}")
    print(
        f"{'lab':<10} {during.num_rows / (ended - started):>7.1f} {lab_p50:>8.1f} {lab_p95:>8.1f}"
    )
    print(f"lab / wrk: p50 {lab_p50 / float(p50):.2f}x, p95 {lab_p95 / float(p95):.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--wrk-connections", type=int, default=4)
    parser.add_argument("--wrk-seconds", type=int, default=30)
    parser.add_argument("--closed-users", type=int, default=4, help="users of the closed run")
    parser.add_argument("--stall-every", type=float, default=20.0, help="LAB_STALL_EVERY_S")
    parser.add_argument(
        "--open-users", type=int, default=0, help="pool of the open run (0: max(20, 2 x rate))"
    )
    parser.add_argument("--skip-control", action="store_true", help="no clean-app runs (1b)")
    parser.add_argument("--skip-stall", action="store_true")
    parser.add_argument("--skip-wrk", action="store_true")
    args = parser.parse_args()
    if "DATABASE_PORT" not in os.environ:
        print("no test services: run under `python -m tests.harness -- ...`", file=sys.stderr)
        return 2
    email, _stock, _customers = prepare_shop(200)
    from jewelry.tenants.models import User

    user = User.objects.get(email=email)
    runs = Path(tempfile.mkdtemp(prefix="stall-proof-"))
    (runs / "credentials.json").write_text(
        json.dumps(
            {
                "users": [
                    {
                        "tenant_id": user.tenant_id,
                        "tenant_slug": "bench",
                        "email": email,
                        "password": PASSWORD,
                        "role": user.role,
                    }
                ]
            }
        )
    )
    print(f"runs in {runs}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not args.skip_stall:
        port = free_port()
        server = start_gunicorn(
            port,
            {
                "LAB_FAULTS": "stall",
                "LAB_STALL_EVERY_S": f"{args.stall_every:g}",
                "LAB_STALL_S": STALL_S,
            },
        )
        try:
            stall_comparison(args, f"http://127.0.0.1:{port}", runs)
        finally:
            stop(server)
    if not args.skip_wrk:
        port = free_port()
        server = start_gunicorn(port)
        try:
            base = f"http://127.0.0.1:{port}"
            if not args.skip_stall and not args.skip_control:
                print(f"\n1b. the same without the stall (control), {args.rate:g} tasks/s")
                lines = model_runs(
                    base, runs, args.rate, args.seconds, "c1e", args.closed_users, args.open_users
                )
                print(HEADER, *lines, sep="\n")
            wrk_comparison(
                base, runs, obtain_token(base, email), args.wrk_connections, args.wrk_seconds
            )
        finally:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
