"""Benchmark: `GET /api/inventory/` (JWT) latency at N concurrent clients, through gunicorn.

    .venv/bin/python -m tests.harness -- .venv/bin/python bench/bench_api_inventory.py \
        [--clients 20] [--seconds 20] [--items 500] [--faults n_plus_one]

Same set-up as bench_pos_checkout.py (harness PostgreSQL through PgBouncer, one shop, gunicorn
with config.settings.perf on a free loopback port). Each client obtains a token once
(`POST /api/auth/token/`, Argon2), then loops for SECONDS over random pages (25 rows), a third
of them filtered by karat or searched. Prints p50/p95/p99 and throughput; `--faults` passes
LAB_FAULTS to gunicorn, so the n_plus_one cost can be seen next to the clean run.
Bounded in time and in count (MAX_REQUESTS per client); gunicorn is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _live_app import (
    MAX_REQUESTS,
    PAGE_SIZE,
    add_client_knobs,
    free_port,
    harness_missing,
    obtain_token,
    percentile,
    prepare_shop,
    start_gunicorn,
    stop,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_client_knobs(parser)
    parser.add_argument("--faults", default="", help="LAB_FAULTS for gunicorn, e.g. n_plus_one")
    args = parser.parse_args()
    if harness_missing():
        return 2
    os.environ["LAB_FAULTS"] = args.faults

    email, _stock, _customers = prepare_shop(args.items)
    pages = max(1, args.items // PAGE_SIZE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"starting gunicorn on {base} (LAB_FAULTS={args.faults!r}) ...", flush=True)
    server = start_gunicorn(port)
    try:
        print(f"obtaining {args.clients} tokens (Argon2) ...", flush=True)
        tokens = [obtain_token(base, email) for _ in range(args.clients)]
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        barrier = threading.Barrier(args.clients)

        def client(token: str, seed: int) -> None:
            rng = random.Random(seed)
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            barrier.wait()
            deadline = time.monotonic() + args.seconds
            for _ in range(MAX_REQUESTS):
                if time.monotonic() >= deadline:
                    break
                params: dict[str, object] = {"page": rng.randint(1, pages)}
                kind = rng.random()
                if kind < 0.15:
                    params = {"karat": rng.choice((10, 14, 18, 22, 24))}
                elif kind < 0.3:
                    params = {"search": f"ring {rng.randint(1, 99)}"}
                started = time.perf_counter()
                response = session.get(f"{base}/api/inventory/", params=params, timeout=30)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] += 1
                if args.think:
                    time.sleep(rng.uniform(0.5, 1.5) * args.think)

        threads = [threading.Thread(target=client, args=(t, n)) for n, t in enumerate(tokens)]
        print(f"running {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.seconds + 120)
    finally:
        stop(server)

    ms = [v * 1000 for v in latencies]
    print(
        f"\nGET /api/inventory/: {args.clients} clients, {args.seconds:.0f} s, {args.items} items,"
        f" LAB_FAULTS={args.faults!r}, think {args.think:g} s"
    )
    print(f"{'n':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    print(
        f"{len(ms):>6} {len(ms) / args.seconds:>7.1f} {percentile(ms, 50):>8.1f}"
        f" {percentile(ms, 95):>8.1f} {percentile(ms, 99):>8.1f}"
    )
    print("statuses:", dict(sorted(statuses.items())))
    return 1 if any(status >= 400 for status in statuses) else 0


if __name__ == "__main__":
    sys.exit(main())
