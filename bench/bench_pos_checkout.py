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
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "app")]
MAX_REQUESTS = 20_000
READY_TIMEOUT_S = 60.0
PASSWORD = secrets.token_urlsafe(16)  # a throw-away shop in a throw-away database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_shop(items: int) -> tuple[str, list[tuple[int, Decimal]], list[int]]:
    """Migrate and create one shop; returns the cashier's e-mail, (item id, price), customer ids."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    from django.core.management import call_command

    from jewelry.customers.models import Customer
    from jewelry.inventory.models import Item
    from tests.app.factories import make_item, make_shop

    print("migrating the harness database ...", flush=True)
    call_command("migrate", verbosity=0)
    shop = make_shop(items=0, customers=50, name="Bench Jewels")
    shop.user.set_password(PASSWORD)
    shop.user.save()
    print(f"creating {items} items ...", flush=True)
    for index in range(items):
        make_item(shop, index=index, quantity=1_000_000)
    stock = list(Item.unscoped.filter(tenant=shop.tenant).values_list("id", "price"))
    customers = list(Customer.unscoped.filter(tenant=shop.tenant).values_list("id", flat=True))
    return shop.user.email, stock, customers


def start_gunicorn(port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """gunicorn with tracing off, unless `extra_env` sets OTEL_SDK_DISABLED and an endpoint."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.perf",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_DEBUG": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        "OTEL_SDK_DISABLED": "true",
        "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}",
        **(extra_env or {}),
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [gunicorn, "-c", str(REPO_ROOT / "app/config/gunicorn.conf.py")],
        env=env,
        cwd=REPO_ROOT / "app",
        start_new_session=True,
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise SystemExit("gunicorn exited during start-up: see its log above")
        time.sleep(0.3)
    stop(process)
    raise SystemExit(f"gunicorn did not answer /healthz within {READY_TIMEOUT_S:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def login(base: str, email: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=10)
    token = session.cookies["csrftoken"]
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if response.status_code != 302:
        raise SystemExit(f"login failed with {response.status_code}: {response.text[:200]}")
    return session


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a client waits between requests (uniform 0.5-1.5x), as a user does;"
        " 0 = closed loop, which measures saturation rather than a user's wait",
    )
    args = parser.parse_args()
    if "DATABASE_PORT" not in os.environ:
        print(
            "no test services: run under `python -m tests.harness -- ...` (see the docstring)",
            file=sys.stderr,
        )
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
