"""App metrics end to end: gunicorn (multiprocess) -> /metrics -> a real Prometheus -> PromQL."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from tests.app.factories import make_shop
from tests.harness.live_app import LiveApp, start_live_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

INVENTORY = "/inventory/"


@pytest.fixture
def live_apps(tmp_path: Path) -> Iterator[Callable[..., LiveApp]]:
    started: list[LiveApp] = []

    def start(**env: str) -> LiveApp:
        app = start_live_app(tmp_path, database_name=connection.settings_dict["NAME"], env=env)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


def session_cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def scrape_config(targets: dict[str, LiveApp]) -> str:
    jobs = "".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['127.0.0.1:{app.port}']\n"
        for name, app in targets.items()
    )
    return f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}"


def query(prometheus_url: str, promql: str) -> list[dict]:
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for_value(prometheus_url: str, promql: str, expected: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last: list[dict] = []
    while time.monotonic() < deadline:
        last = query(prometheus_url, promql)
        if last and float(last[0]["value"][1]) == expected:
            return
        time.sleep(0.5)
    pytest.fail(f"{promql} never reached {expected} within {timeout}s; last answer {last}")


def scalar(prometheus_url: str, promql: str) -> float:
    result = query(prometheus_url, promql)
    assert len(result) == 1, f"{promql} -> {result}"
    return float(result[0]["value"][1])


def test_prometheus_counts_requests_by_route_and_measures_db_p95(live_apps, prometheus_server):
    shop = make_shop(items=30)
    app = live_apps()
    cookie = session_cookie(shop.user)
    for _ in range(5):
        status, body = app.get(INVENTORY, cookie)
        assert status == 200, body[:300]
    status, _ = app.get("/inventory/999999999/", cookie)
    assert status == 404

    prometheus = prometheus_server(scrape_config({"app": app}))
    count = 'sum(jewelry_http_request_duration_seconds_count{route="/inventory/",status="200"})'
    wait_for_value(prometheus.url, count, 5)
    # Ids never become labels: the detail page is one series under its URL pattern.
    detail = 'sum(jewelry_http_request_duration_seconds_count{route="/inventory/<int:pk>/"})'
    assert scalar(prometheus.url, detail) == 1

    db_p95 = scalar(
        prometheus.url,
        "histogram_quantile(0.95, sum by (le) "
        '(jewelry_db_query_duration_seconds_bucket{route="/inventory/"}))',
    )
    assert 0 < db_p95 <= 0.1, "a 30-item page's queries sit far below the 100 ms target"
    queries = scalar(
        prometheus.url,
        'sum(jewelry_db_queries_per_request_sum{route="/inventory/"})'
        ' / sum(jewelry_db_queries_per_request_count{route="/inventory/"})',
    )
    assert 1 <= queries <= 10, "the clean inventory list is a constant handful of queries"
    # Both workers report their own resident memory (multiprocess mode keeps one series per pid).
    memory = query(prometheus.url, "jewelry_worker_resident_memory_bytes")
    assert memory
    assert all(float(series["value"][1]) > 10e6 for series in memory)


def test_n_plus_one_fault_raises_queries_per_request(live_apps, prometheus_server):
    shop = make_shop(items=30)
    clean = live_apps()
    faulty = live_apps(LAB_FAULTS="n_plus_one")
    cookie = session_cookie(shop.user)
    for app in (clean, faulty):
        for _ in range(3):
            status, body = app.get(INVENTORY, cookie)
            assert status == 200, body[:300]

    prometheus = prometheus_server(scrape_config({"clean": clean, "faulty": faulty}))
    for job in ("clean", "faulty"):
        count = f'sum(jewelry_db_queries_per_request_count{{job="{job}",route="/inventory/"}})'
        wait_for_value(prometheus.url, count, 3)

    def mean_queries(job: str) -> float:
        selector = f'{{job="{job}",route="/inventory/"}}'
        return scalar(
            prometheus.url,
            f"sum(jewelry_db_queries_per_request_sum{selector})"
            f" / sum(jewelry_db_queries_per_request_count{selector})",
        )

    # 25 items on the first page, each loading its category and branch on its own: 50 more
    # queries, less a few for connection set-up queries that differ between worker processes.
    assert mean_queries("faulty") >= mean_queries("clean") + 45
