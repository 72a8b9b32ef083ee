"""Benchmark: POS checkout (and POS search) latency at N concurrent clients, through gunicorn.

    .venv/bin/python -m tests.harness -- .venv/bin/python bench/bench_pos_checkout.py \
        [--clients 20] [--seconds 20] [--items 500]

Needs the harness's PostgreSQL (through PgBouncer) and Redis (their DATABASE_* / REDIS_URL
variables). Migrates that throw-away database, creates one shop with ITEMS well-stocked items,
starts gunicorn (config.settings.perf, default worker/thread count) on a free loopback port,
signs CLIENTS sessions in, then each client loops for SECONDS: checkout of 1-2 random items
(`POST /pos/checkout/`) then a product search. Prints p50/p95/p99 and throughput per endpoint.
Bounded in time and in count (MAX_REQUESTS per client); gunicorn is stopped at the end.
"""

from __future__ import annotations

import argparse
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
    add_client_knobs,
    free_port,
    harness_missing,
    login,
    percentile,
    prepare_shop,
    start_gunicorn,
    stop,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_client_knobs(parser)
    args = parser.parse_args()
    if harness_missing():
        return 2

    email, stock, customers = prepare_shop(args.items)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"starting gunicorn on {base} ...", flush=True)
    server = start_gunicorn(port)
    try:
        print(f"signing in {args.clients} clients (Argon2) ...", flush=True)
        sessions = [login(base, email) for _ in range(args.clients)]
        latencies: dict[str, list[float]] = {"checkout": [], "search": []}
        statuses: Counter[tuple[str, int]] = Counter()
        lock = threading.Lock()
        barrier = threading.Barrier(args.clients)

        def client(session: requests.Session, seed: int) -> None:
            rng = random.Random(seed)
            headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": base}
            barrier.wait()
            deadline = time.monotonic() + args.seconds
            for _ in range(MAX_REQUESTS):
                if time.monotonic() >= deadline:
                    break
                lines = rng.sample(stock, k=rng.choice((1, 2)))
                total = sum(price for _, price in lines)
                body = {
                    "customer_id": rng.choice([None, *customers]),
                    "items": [{"item_id": item_id, "quantity": 1} for item_id, _ in lines],
                    "payments": [{"method": rng.choice(("cash", "card")), "amount": str(total)}],
                }
                started = time.perf_counter()
                response = session.post(
                    f"{base}/pos/checkout/", json=body, headers=headers, timeout=30
                )
                checkout_s = time.perf_counter() - started
                started = time.perf_counter()
                found = session.get(f"{base}/pos/search/", params={"q": "ring 1"}, timeout=30)
                search_s = time.perf_counter() - started
                with lock:
                    latencies["checkout"].append(checkout_s)
                    latencies["search"].append(search_s)
                    statuses[("checkout", response.status_code)] += 1
                    statuses[("search", found.status_code)] += 1
                if args.think:
                    time.sleep(rng.uniform(0.5, 1.5) * args.think)

        threads = [
            threading.Thread(target=client, args=(session, n)) for n, session in enumerate(sessions)
        ]
        print(f"running {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.seconds + 120)
    finally:
        stop(server)

    print(
        f"\n{args.clients} concurrent clients, {args.seconds:.0f} s, {args.items} items,"
        f" think {args.think:g} s"
    )
    print(f"{'endpoint':<10} {'n':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, values in latencies.items():
        ms = [v * 1000 for v in values]
        print(
            f"{name:<10} {len(ms):>6} {len(ms) / args.seconds:>7.1f} {percentile(ms, 50):>8.1f}"
            f" {percentile(ms, 95):>8.1f} {percentile(ms, 99):>8.1f}"
        )
    print("statuses:", dict(sorted(statuses.items())))
    bad = sum(count for (_, status), count in statuses.items() if status >= 400)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
