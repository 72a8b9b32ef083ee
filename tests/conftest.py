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


def pytest_configure(config: pytest.Config) -> None:
    # Fail once, up front, with the fix, instead of a connection error in every test.
    if config.option.help or config.option.version:
        return
    try:
        ServiceFacts.from_env()
    except HarnessEnvMissing as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="session")
def django_db_keepdb() -> bool:
    """Never drop Django's test database at the end of the session.

    The harness throws the whole cluster away afterwards, and the DROP DATABASE
    would fail anyway: PgBouncer still holds a server connection to it.
    """
    return True


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
