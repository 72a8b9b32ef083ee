"""Fixtures for the whole suite: the harness's services, free ports, Prometheus on demand.

Keep this file generic; component fixtures live in each tests/<component>/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.environment import HarnessEnvMissing, ServiceFacts
from tests.harness.processes import free_port as pick_free_port
from tests.harness.services import PrometheusServer, start_prometheus


@pytest.fixture(scope="session")
def services() -> ServiceFacts:
    """Where the harness's PostgreSQL (via PgBouncer and direct), Redis and temp folder are."""
    try:
        return ServiceFacts.from_env()
    except HarnessEnvMissing as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    return pick_free_port()


@pytest.fixture
def prometheus_server(
    services: ServiceFacts, tmp_path: Path
) -> Iterator[Callable[..., PrometheusServer]]:
    """Factory: `prometheus_server(config_yaml, port=None)` starts a real Prometheus.

    The returned handle has `.url` (base URL), `.port` and `.log_path`.
    Each server gets its own TSDB inside the harness temp folder and is stopped
    when the test ends.
    """
    started: list[PrometheusServer] = []

    def start(config_text: str, port: int | None = None) -> PrometheusServer:
        config_path = tmp_path / f"prometheus-{len(started)}.yml"
        config_path.write_text(config_text)
        server = start_prometheus(config_path, services.tmpdir, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
