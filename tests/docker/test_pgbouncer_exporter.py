"""The offline image's PgBouncer exporter: upstream's series names, from a real PgBouncer."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.environment import ServiceFacts

EXPORTER = Path(__file__).resolve().parents[2] / "docker" / "offline" / "pgbouncer_exporter.py"
# What the lab reads (recording rules, lab report, Grafana): upstream's names.
LAB_SERIES = {
    "pgbouncer_up",
    "pgbouncer_pools_client_maxwait_seconds",
    "pgbouncer_pools_client_waiting_connections",
    "pgbouncer_pools_client_active_connections",
    "pgbouncer_pools_server_active_connections",
    "pgbouncer_pools_server_idle_connections",
    "pgbouncer_stats_client_wait_seconds_total",
    "pgbouncer_stats_sql_transactions_pooled_total",
    "pgbouncer_stats_queries_pooled_total",
    "pgbouncer_databases_pool_size",
    "pgbouncer_config_max_client_connections",
}


def _scrape(url: str, timeout_s: float = 10.0) -> dict[str, list[tuple[dict[str, str], float]]]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                text = response.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return _grouped(text)


def _grouped(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


@pytest.fixture
def exporter(services: ServiceFacts, free_port: int, tmp_path: Path) -> Iterator[str]:
    dsn = (
        f"postgres://{services.monitor_user}:{services.monitor_password}@"
        f"{services.database_host}:{services.database_port}/pgbouncer?sslmode=disable"
    )
    log = (tmp_path / "exporter.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXPORTER),
            f"--pgBouncer.connectionString={dsn}",
            f"--web.listen-address=127.0.0.1:{free_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{free_port}/metrics"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _connect(services: ServiceFacts) -> psycopg2.extensions.connection:
    connection = psycopg2.connect(
        host=services.database_host,
        port=services.database_port,
        dbname=services.database_name,
        user=services.database_user,
        password=services.database_password,
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection


def _clients(
    samples: dict[str, list[tuple[dict[str, str], float]]], services: ServiceFacts
) -> float:
    """Client connections of the test database's pool, as the exporter reports them."""
    return sum(
        value
        for labels, value in samples["pgbouncer_pools_client_active_connections"]
        if labels["database"] == services.database_name and labels["user"] == services.database_user
    )


def test_series_have_upstream_names_and_count_real_traffic(
    exporter: str, services: ServiceFacts
) -> None:
    # PgBouncer folds its totals into SHOW STATS every stats_period (60 s by default), so the
    # live counters of SHOW POOLS prove the scrape reads the running pooler: three clients
    # held open show up, and are gone once closed.
    connections = [_connect(services) for _ in range(3)]
    try:
        samples = _scrape(exporter)
    finally:
        for connection in connections:
            connection.close()
    missing = LAB_SERIES - set(samples)
    assert not missing, f"missing series: {sorted(missing)}"
    assert samples["pgbouncer_up"] == [({}, 1.0)]
    pools = {labels["database"] for labels, _ in samples["pgbouncer_pools_server_idle_connections"]}
    assert services.database_name in pools
    held = _clients(samples, services)
    assert held >= 3, samples["pgbouncer_pools_client_active_connections"]
    deadline = time.monotonic() + 10
    while (now := _clients(_scrape(exporter), services)) != held - 3:
        assert time.monotonic() < deadline, f"clients {now} after closing 3 of {held}"
        time.sleep(0.1)
    assert samples["pgbouncer_config_max_client_connections"][0][1] > 0


def test_unreachable_pgbouncer_is_up_zero(free_port: int) -> None:
    sys.path.insert(0, str(EXPORTER.parent))
    try:
        from pgbouncer_exporter import PgBouncerCollector
    finally:
        sys.path.remove(str(EXPORTER.parent))
    collector = PgBouncerCollector(f"postgres://u:p@127.0.0.1:{free_port}/pgbouncer")
    families = list(collector.collect())
    assert [(f.name, [s.value for s in f.samples]) for f in families] == [("pgbouncer_up", [0.0])]


def _grouped_value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(value for _labels, value in samples.get(name, []))


def test_landing_page_answers_health_checks_without_scraping(exporter: str) -> None:
    """The Compose health check probes `/`: a page, not a scrape of PgBouncer's console."""
    _scrape(exporter)  # wait until it listens
    root = exporter.removesuffix("/metrics") + "/"
    with urllib.request.urlopen(root, timeout=5) as response:  # noqa: S310 - loopback
        page = response.read().decode()
    assert response.status == 200
    assert "/metrics" in page
    assert "pgbouncer_up" not in page
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(exporter.removesuffix("/metrics") + "/other", timeout=5)  # noqa: S310
    assert missing.value.code == 404
