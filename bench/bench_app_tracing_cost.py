"""What tracing costs the app: `GET /api/inventory/` with the app following ratio 0, 0.1 and 1.

    make bench-app-tracing     # or: .venv/bin/python -m tests.harness -- \
        .venv/bin/python bench/bench_app_tracing_cost.py [--rounds 5] [--seconds 6]

One gunicorn (config.settings.perf, harness PostgreSQL through PgBouncer and Redis) with
tracing on and exporting OTLP/HTTP to a sink that answers 200 (a separate process, so only
the app's own cost is measured: spans, instrumentation, encoding, export). The client sends
the lab's `traceparent` + `baggage` (with a valid run token), with the sampled flag set on
a share RATIO of the requests, so the app follows that ratio, as it follows Locust. Ratios
are interleaved in a shuffled order in every round, so a machine shared with other work
slows each ratio alike: the figures printed are ratios to ratio 0 *within a round*, their
median and range over the rounds. Two phases per ratio: saturation (closed loop, CLIENTS
threads, req/s) and moderate load (CLIENTS threads with think time, p50).
Bounded in time (rounds x ratios x 2 phases x SECONDS) and count (MAX_REQUESTS per client).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _live_app import (
    MAX_REQUESTS,
    PAGE_SIZE,
    free_port,
    harness_missing,
    obtain_token,
    percentile,
    prepare_shop,
    start_gunicorn,
    stop,
)

from lab.run_token import run_token

RATIOS = (0.0, 0.1, 1.0)
RUN_ID = "bench-app-tracing"
SINK = Path(__file__).resolve().with_name("_ok_server.py")  # answers 200 to any export


def phase(
    base: str, tokens: list[str], baggage: str, ratio: float, seconds: float, think: float
) -> tuple[int, list[float]]:
    """Run every client for `seconds`; returns (requests, latencies in ms)."""
    pages = 20
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(tokens))

    def client(token: str, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        session.headers["baggage"] = baggage
        mine: list[float] = []
        barrier.wait()
        deadline = time.monotonic() + seconds
        for _ in range(MAX_REQUESTS):
            if time.monotonic() >= deadline:
                break
            flag = "01" if rng.random() < ratio else "00"
            traceparent = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64) or 1:016x}-{flag}"
            started = time.perf_counter()
            response = session.get(
                f"{base}/api/inventory/",
                params={"page": rng.randint(1, pages)},
                headers={"traceparent": traceparent},
                timeout=30,
            )
            mine.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"HTTP {response.status_code}: {response.text[:200]}")
            if think:
                time.sleep(rng.uniform(0.5, 1.5) * think)
        with lock:
            latencies.extend(mine)

    seed = random.getrandbits(32)
    threads = [threading.Thread(target=client, args=(t, seed + n)) for n, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    return len(latencies), latencies


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f}, range {min(values):.3f}-{max(values):.3f}"
        f" over {len(values)} rounds"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=8, help="threads in both phases")
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean think time of the moderate phase (s)"
    )
    args = parser.parse_args()
    if harness_missing():
        return 2
    if args.rounds < 1 or args.seconds <= 0 or args.clients < 1:
        print("--rounds, --seconds and --clients must be positive", file=sys.stderr)
        return 2
    os.environ["LAB_FAULTS"] = ""
    email, _stock, _customers = prepare_shop(PAGE_SIZE * 20)
    key = secrets.token_hex(16)
    token = run_token(RUN_ID, key.encode())
    baggage = f"lab.run_id={RUN_ID},synthetic_request=true,lab.run_token={token}"
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, str(SINK), str(sink_port)], start_new_session=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"starting gunicorn on {base}, exporting spans to a sink on :{sink_port} ...", flush=True)
    server = start_gunicorn(
        port,
        {
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
            "LAB_RUN_TOKEN_KEY": key,
        },
    )
    rps: dict[float, list[float]] = {r: [] for r in RATIOS}
    p50: dict[float, list[float]] = {r: [] for r in RATIOS}
    try:
        tokens = [obtain_token(base, email) for _ in range(args.clients)]
        phase(base, tokens, baggage, 1.0, 3, 0)  # warm-up: connections, caches, JIT-free paths
        for round_no in range(1, args.rounds + 1):
            order = list(RATIOS)
            random.shuffle(order)
            for ratio in order:
                count, _ = phase(base, tokens, baggage, ratio, args.seconds, 0)
                rps[ratio].append(count / args.seconds)
                _, moderate = phase(base, tokens, baggage, ratio, args.seconds, args.think)
                p50[ratio].append(percentile(moderate, 50))
                print(
                    f"round {round_no}/{args.rounds} ratio {ratio:g}: saturation"
                    f" {rps[ratio][-1]:.1f} req/s, moderate p50 {p50[ratio][-1]:.1f} ms",
                    flush=True,
                )
    finally:
        stop(server)
        sink.terminate()
        sink.wait(10)

    print(
        f"\nGET /api/inventory/ through gunicorn + PgBouncer, {args.clients} clients,"
        f" {args.seconds:g} s phases, moderate think {args.think:g} s; shared machine: compare"
        " within a round only"
    )
    # 1 vs 0.1 is what tail sampling adds to the former default (head sampling at 0.1).
    for ratio, base in ((0.1, 0.0), (1.0, 0.0), (1.0, 0.1)):
        rps_ratio = [a / b for a, b in zip(rps[ratio], rps[base], strict=True)]
        p50_ratio = [a / b for a, b in zip(p50[ratio], p50[base], strict=True)]
        print(f"ratio {ratio:g} vs {base:g}: req/s at saturation x {summary(rps_ratio)}")
        print(f"ratio {ratio:g} vs {base:g}: p50 at moderate load x {summary(p50_ratio)}")
    print(
        "absolute (median): "
        + ", ".join(
            f"ratio {r:g} {statistics.median(rps[r]):.1f} req/s"
            f" p50 {statistics.median(p50[r]):.1f} ms"
            for r in RATIOS
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
