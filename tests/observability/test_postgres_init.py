"""observability/postgres: the init scripts and the settings fragment, on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.harness.environment import REPO_ROOT, ServiceFacts
from tests.harness.processes import daemon_user
from tests.harness.services import PostgresServer, make_run_dir, start_postgres

POSTGRES_DIR = REPO_ROOT / "observability" / "postgres"
INITDB_DIR = POSTGRES_DIR / "initdb"
EXPECTED_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "track_io_timing": "on",
    "log_min_duration_statement": "100",  # milliseconds, as `postgres -C` prints it
    "compute_query_id": "on",
    "log_lock_waits": "on",
}


@pytest.fixture(scope="module")
def postgres(services: ServiceFacts) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of our own: the init scripts need its superuser."""
    server = start_postgres(make_run_dir(services.tmpdir))
    yield server
    server.stop()


def run_init_file(
    server: PostgresServer, path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run one docker-entrypoint-initdb.d file the way the postgres image does."""
    environment = {
        **os.environ,
        "PGHOST": str(server.socket_dir),
        "PGPORT": str(server.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "obs_init",
        **env,
    }
    if path.suffix == ".sql":
        argv = ["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "--username", "postgres",
                "--dbname", "obs_init", "--file", str(path)]  # fmt: skip
    else:
        argv = [str(path)]
    return subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def init_database(postgres: PostgresServer) -> str:
    connection = postgres.superuser_connection()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE obs_init TEMPLATE template0")
    connection.close()
    return "obs_init"


def test_scripts_are_executable_and_ordered() -> None:
    names = sorted(path.name for path in INITDB_DIR.iterdir())
    assert names == ["00-observability-conf.sh", "01-monitoring.sql", "02-monitoring-role.sh"]
    for script in INITDB_DIR.glob("*.sh"):
        assert os.access(script, os.X_OK), (
            f"{script.name} must be executable (the entrypoint runs it)"
        )


def test_monitoring_sql_creates_the_extensions(
    postgres: PostgresServer, init_database: str
) -> None:
    result = run_init_file(postgres, INITDB_DIR / "01-monitoring.sql")
    assert result.returncode == 0, result.stderr
    again = run_init_file(postgres, INITDB_DIR / "01-monitoring.sql")
    assert again.returncode == 0, again.stderr
    connection = postgres.superuser_connection(init_database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension ORDER BY extname")
        assert {row[0] for row in cursor.fetchall()} >= {"pg_stat_statements", "pg_trgm"}
    connection.close()


def test_monitoring_role_logs_in_with_pg_monitor_only(
    postgres: PostgresServer, init_database: str
) -> None:
    script = INITDB_DIR / "02-monitoring-role.sh"
    env = {"POSTGRES_MONITOR_USER": "obs_monitor", "POSTGRES_MONITOR_PASSWORD": "first-pass'word"}
    result = run_init_file(postgres, script, **env)
    assert result.returncode == 0, result.stderr
    # Running again (a re-provisioned container) keeps the role and sets the new password.
    env["POSTGRES_MONITOR_PASSWORD"] = "second password"
    result = run_init_file(postgres, script, **env)
    assert result.returncode == 0, result.stderr

    connection = psycopg2.connect(
        host="127.0.0.1",
        port=postgres.port,
        user="obs_monitor",
        password="second password",
        dbname=init_database,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_has_role('obs_monitor', 'pg_monitor', 'member')")
        assert cursor.fetchone() == (True,)
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
        assert cursor.fetchone() == (False, False, False)
        cursor.execute("SELECT count(*) >= 0 FROM pg_stat_statements")  # readable via pg_monitor
        assert cursor.fetchone() == (True,)
    connection.close()


def test_monitoring_role_without_password_fails_with_one_clear_line(
    postgres: PostgresServer, init_database: str
) -> None:
    result = run_init_file(
        postgres, INITDB_DIR / "02-monitoring-role.sh", POSTGRES_MONITOR_PASSWORD=""
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "02-monitoring-role.sh: POSTGRES_MONITOR_PASSWORD is empty; "
        "set it in .env (make lab-up generates one)"
    ]


def test_settings_fragment_is_valid_postgres_configuration(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """The conf script includes the fragment; `postgres -C` then reads each setting back."""
    data_dir = postgres.log_path.parent / "data"
    script = INITDB_DIR / "00-observability-conf.sh"
    fragment = POSTGRES_DIR / "postgresql.conf"
    env = {**os.environ, "PGDATA": str(data_dir), "LAB_POSTGRES_OBSERVABILITY_CONF": str(fragment)}
    for _ in range(2):  # idempotent: one include line however often it runs
        result = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    main_conf = (data_dir / "postgresql.conf").read_text()
    assert main_conf.count(f"include_if_exists '{fragment}'") == 1

    user = daemon_user()
    for name, expected in EXPECTED_SETTINGS.items():
        shown = subprocess.run(
            [str(postgres.bindir / "postgres"), "-D", str(data_dir), "-C", name],
            capture_output=True,
            text=True,
            timeout=30,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
        )
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == expected, name
