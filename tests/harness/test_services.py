"""The harness's services are real, configured as the app expects, and cleaned up after kills."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import redis

from tests.harness import services as services_module
from tests.harness.environment import REPO_ROOT, ServiceFacts
from tests.harness.processes import pid_alive, process_start_ticks
from tests.harness.registry import RecordedService, RunRecord, RunRegistry
from tests.harness.services import PrometheusServer, make_run_dir, start_redis

HARNESS = [sys.executable, "-m", "tests.harness", "--"]


@contextmanager
def connect(
    services: ServiceFacts, **overrides: object
) -> Iterator[psycopg2.extensions.connection]:
    params: dict[str, object] = {
        "host": services.database_host,
        "port": services.database_port,
        "dbname": services.database_name,
        "user": services.database_user,
        "password": services.database_password,
        "connect_timeout": 5,
    }
    params.update(overrides)
    connection = psycopg2.connect(**params)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


def query(connection: psycopg2.extensions.connection, sql: str) -> list[dict[str, object]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# --- PostgreSQL through PgBouncer -------------------------------------------------------


def test_query_through_pgbouncer_reaches_the_app_database(services: ServiceFacts) -> None:
    with connect(services) as connection:
        rows = query(connection, "SELECT current_database() AS db, current_user AS who")
    assert rows == [{"db": "jewelry", "who": "jewelry"}]
    assert services.database_port != services.database_direct_port


def test_pgbouncer_runs_in_transaction_mode(services: ServiceFacts) -> None:
    with connect(services) as app_connection:
        query(app_connection, "SELECT 1 AS one")  # so a pool for jewelry/jewelry exists
        with connect(
            services,
            dbname="pgbouncer",
            user=services.monitor_user,
            password=services.monitor_password,
        ) as console:
            config = {row["key"]: row["value"] for row in query(console, "SHOW CONFIG")}
            pools = query(console, "SHOW POOLS")
    assert config["pool_mode"] == "transaction"
    app_pools = [p for p in pools if p["database"] == "jewelry" and p["user"] == "jewelry"]
    assert app_pools, f"no pool for jewelry in {pools}"
    assert app_pools[0]["pool_mode"] == "transaction"


def test_wrong_password_is_refused(services: ServiceFacts) -> None:
    with pytest.raises(psycopg2.OperationalError), connect(services, password="not-it"):
        pass


def test_extensions_and_monitor_role(services: ServiceFacts) -> None:
    with connect(services) as connection:
        names = {row["extname"] for row in query(connection, "SELECT extname FROM pg_extension")}
        similarity = query(connection, "SELECT similarity('gold ring', 'gold rings') AS s")
    assert {"pg_stat_statements", "pg_trgm"} <= names
    assert float(str(similarity[0]["s"])) > 0.5
    with connect(
        services,
        port=services.database_direct_port,
        user=services.monitor_user,
        password=services.monitor_password,
    ) as monitor:
        statements = query(monitor, "SELECT count(*) AS n FROM pg_stat_statements")
        preload = query(monitor, "SHOW shared_preload_libraries")
    assert int(str(statements[0]["n"])) > 0
    assert "pg_stat_statements" in str(preload[0]["shared_preload_libraries"])


def test_new_databases_inherit_extensions_through_the_wildcard_pool(
    services: ServiceFacts,
) -> None:
    """What Django's test runner does: CREATE DATABASE, then use it through PgBouncer."""
    name = f"harness_probe_{os.getpid()}"
    with connect(services, port=services.database_direct_port, dbname="postgres") as direct:
        query_no_result(direct, f"CREATE DATABASE {name}")
        try:
            with connect(services, dbname=name) as pooled:
                names = {r["extname"] for r in query(pooled, "SELECT extname FROM pg_extension")}
        finally:
            query_no_result(direct, f"DROP DATABASE {name} WITH (FORCE)")
    assert {"pg_stat_statements", "pg_trgm"} <= names


def query_no_result(connection: psycopg2.extensions.connection, sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


# --- Redis ------------------------------------------------------------------------------


def test_redis_answers_ping_and_keeps_nothing_on_disk(services: ServiceFacts) -> None:
    client = redis.Redis.from_url(services.redis_url, socket_timeout=5)
    try:
        assert client.ping() is True
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
    finally:
        client.close()


# --- Prometheus -------------------------------------------------------------------------


def test_prometheus_scrapes_itself(
    prometheus_server: Callable[..., PrometheusServer], free_port: int
) -> None:
    config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: prometheus\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{free_port}']}}]\n"
    )
    server = prometheus_server(config, port=free_port)
    url = f"{server.url}/api/v1/query?" + urllib.parse.urlencode({"query": 'up{job="prometheus"}'})
    deadline = time.monotonic() + 30
    result: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            result = json.load(response)["data"]["result"]
        if result:
            break
        time.sleep(0.5)
    assert result, f"Prometheus never scraped itself; log:\n{server.log_path.read_text()[-2000:]}"
    assert result[0]["value"][1] == "1"  # type: ignore[index]


# --- cleanup after killed runs ----------------------------------------------------------


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_stale_run_with_a_live_service_is_cleaned(tmp_path: Path) -> None:
    run_dir = make_run_dir(parent=tmp_path)
    leftover = start_redis(run_dir)
    registry = RunRegistry(tmp_path / "registry")
    registry.save(
        RunRecord(
            harness_pid=dead_pid(),
            harness_start_ticks=None,
            tmpdir=str(run_dir),
            services=[RecordedService("redis", leftover.pid, signal.SIGTERM)],
        )
    )
    try:
        messages = registry.clean_stale()
        leftover.process.poll()  # reap it: it is our child in this test
        assert not pid_alive(leftover.pid), messages
        assert not run_dir.exists()
        assert registry.records() == []
    finally:
        leftover.stop()


def test_stale_record_pointing_at_a_foreign_process_leaves_it_alone(tmp_path: Path) -> None:
    run_dir = make_run_dir(parent=tmp_path)
    foreign = subprocess.Popen(["sleep", "30"], cwd=tmp_path)
    registry = RunRegistry(tmp_path / "registry")
    registry.save(
        RunRecord(
            harness_pid=dead_pid(),
            harness_start_ticks=None,
            tmpdir=str(run_dir),
            services=[
                RecordedService("postgres", foreign.pid, signal.SIGINT),
                RecordedService("redis", dead_pid(), signal.SIGTERM),
            ],
        )
    )
    (registry.directory / "run-garbage.json").write_text("{not json")
    try:
        registry.clean_stale()
        assert foreign.poll() is None, "a process outside the run folder was killed"
        assert not run_dir.exists()
        assert registry.records() == []
    finally:
        foreign.kill()
        foreign.wait()


def test_live_run_record_is_left_alone(tmp_path: Path) -> None:
    run_dir = make_run_dir(parent=tmp_path)
    registry = RunRegistry(tmp_path / "registry")
    mine = RunRecord(os.getpid(), process_start_ticks(os.getpid()), str(run_dir))
    registry.save(mine)
    assert registry.clean_stale() == []
    assert run_dir.exists()
    assert len(registry.records()) == 1


def wait_for_started_run(registry: RunRegistry, timeout: float = 60) -> RunRecord:
    """The record of a harness run once it has started all three services."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for _, r in registry.records() if r and len(r.services) == 3]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no harness run started its three services within {timeout:.0f}s")


def test_harness_killed_mid_run_does_not_break_the_next_run(tmp_path: Path) -> None:
    """kill -9 of a real harness run: its services die with it, the next run cleans the rest."""
    env = {**os.environ, "LAB_TEST_REGISTRY_DIR": str(tmp_path / "registry")}
    victim = subprocess.Popen(
        [*HARNESS, "sleep", "60"], env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True
    )
    registry = RunRegistry(tmp_path / "registry")
    try:
        record = wait_for_started_run(registry)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        # Its daemons get SIGTERM/SIGINT from the kernel when their parent dies.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(pid_alive(s.pid) for s in record.services):
            time.sleep(0.1)
        assert not any(pid_alive(s.pid) for s in record.services)
        assert Path(record.tmpdir).exists()  # nobody removed it yet

        next_run = subprocess.run(
            [*HARNESS, "true"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
        )
        assert next_run.returncode == 0, next_run.stderr
        assert f"removed leftover temp folder {record.tmpdir}" in next_run.stderr
        assert not Path(record.tmpdir).exists()
        assert registry.records() == []
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_harness_passes_the_exit_code_through(tmp_path: Path) -> None:
    env = {**os.environ, "LAB_TEST_REGISTRY_DIR": str(tmp_path / "registry")}
    result = subprocess.run(
        [*HARNESS, "sh", "-c", 'test -n "$DATABASE_PORT"; exit 7'],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 7, result.stderr
    assert "pgbouncer on 127.0.0.1:" in result.stderr


def test_a_port_taken_meanwhile_is_retried_with_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another engineer's daemon may grab the port between our pick and our bind."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        real_pick = services_module.free_port
        monkeypatch.setattr(services_module, "free_port", lambda: next(picks, None) or real_pick())
        server = start_redis(make_run_dir(parent=tmp_path))
        try:
            assert server.port != taken
            assert services_module.redis_ping(server.port)
        finally:
            server.stop()


def test_sigterm_stops_the_command_and_the_services(tmp_path: Path) -> None:
    env = {**os.environ, "LAB_TEST_REGISTRY_DIR": str(tmp_path / "registry")}
    harness = subprocess.Popen(
        [*HARNESS, "sleep", "60"], env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True
    )
    registry = RunRegistry(tmp_path / "registry")
    record = wait_for_started_run(registry)
    try:
        harness.send_signal(signal.SIGTERM)
        _, stderr = harness.communicate(timeout=30)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    assert harness.returncode == 128 + signal.SIGTERM, stderr
    assert "services stopped" in stderr
    assert not any(pid_alive(s.pid) for s in record.services)
    assert not Path(record.tmpdir).exists()
    assert registry.records() == []
