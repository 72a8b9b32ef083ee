"""What the HTTP benchmarks share: one shop in the harness database, the app under gunicorn
(config.settings.perf, the lab's gunicorn.conf.py) on a free loopback port, logins, a
percentile, and the client knobs every one of them takes.

The benchmarks run under the test harness (`python -m tests.harness -- python bench/...`),
which exports DATABASE_* and REDIS_URL for its own PostgreSQL, PgBouncer and Redis.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "app")]

from tests.harness.processes import free_port  # noqa: E402

__all__ = ["free_port"]  # re-exported: the benchmarks take their port from here
MAX_REQUESTS = 20_000
READY_TIMEOUT_S = 60.0
PASSWORD = secrets.token_urlsafe(16)  # a throw-away shop in a throw-away database


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


PAGE_SIZE = 25


def obtain_token(base: str, email: str) -> str:
    response = requests.post(
        f"{base}/api/auth/token/", json={"username": email, "password": PASSWORD}, timeout=30
    )
    if response.status_code != 200:
        raise SystemExit(f"token obtain failed with {response.status_code}: {response.text[:200]}")
    return response.json()["access"]


def add_client_knobs(
    parser: argparse.ArgumentParser, clients: int = 20, seconds: float = 20.0
) -> None:
    """--clients, --seconds, --items, --think: the load a benchmark's clients make."""
    parser.add_argument("--clients", type=int, default=clients)
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a client waits between requests (uniform 0.5-1.5x), as a user does;"
        " 0 = closed loop, which measures saturation rather than a user's wait",
    )


def harness_missing() -> bool:
    """True (and says so) when not run under the test harness, which owns the services."""
    if "DATABASE_PORT" in os.environ:
        return False
    print(
        "no test services: run under `python -m tests.harness -- ...` (see the docstring)",
        file=sys.stderr,
    )
    return True
