"""The app's own span export (jewelry.observability.tracing) with its backend down: every
request is still served at once, and the lost spans are counted, never raised into the app.

The app runs as the lab runs it (gunicorn, its post_fork tracing set-up) with an OTLP endpoint
where nothing listens.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.live_app import LiveApp, start_live_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# A synchronous export to a dead endpoint retries for about 7 s (10 s timeout, backoff
# 1, 2, 4 s): a request that waited on it would miss this client timeout by far.
CLIENT_TIMEOUT_S = 5


@pytest.fixture
def app_with_dead_collector(tmp_path: Path, free_port: int) -> Iterator[LiveApp]:
    app = start_live_app(
        tmp_path,
        database_name=connection.settings_dict["NAME"],
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port}",  # nothing listens
            "OTEL_TRACES_SAMPLER": "always_on",  # trace every request, not only Locust's
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
    )
    yield app
    app.stop()


def span_counters(app: LiveApp) -> dict[str, float]:
    with urllib.request.urlopen(f"{app.url}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    counters = {"exported": 0.0, "export_failed": 0.0, "queue_full": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "jewelry_spans_exported_total":
                counters["exported"] += sample.value
            elif sample.name == "jewelry_spans_dropped_total":
                counters[sample.labels["reason"]] += sample.value
    return counters


def test_requests_are_served_and_lost_spans_counted_while_the_backend_is_down(
    app_with_dead_collector: LiveApp,
) -> None:
    app = app_with_dead_collector
    for _ in range(20):
        with urllib.request.urlopen(  # noqa: S310 - loopback
            f"{app.url}/accounts/login/", timeout=CLIENT_TIMEOUT_S
        ) as response:
            assert response.status == 200
    deadline = time.monotonic() + 60
    while (counters := span_counters(app))["export_failed"] < 20:
        assert time.monotonic() < deadline, f"lost spans never counted: {counters}"
        time.sleep(0.2)
    assert counters["exported"] == 0
    log = app.log_path.read_text(errors="replace")
    assert "span export failed" not in log  # a failed export is a result, not an exception
