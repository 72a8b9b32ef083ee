"""Start the test suite's real services on free loopback ports inside one temp folder.

Each `start_*` function returns a handle with the connection facts and a
`stop()`; nothing here touches the machine's own (Debian-managed) services.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psycopg2

from tests.harness.processes import (
    OsUser,
    ServiceError,
    daemon_user,
    free_port,
    port_accepts,
    run_checked,
    spawn,
    stop_process,
    wait_until,
)

RUN_DIR_PREFIX = "lab-test-"
APP_USER = "jewelry"
APP_DATABASE = "jewelry"
MONITOR_USER = "lab_monitor"
_PORT_ATTEMPTS = 3

HandleT = TypeVar("HandleT", bound="Service")


@dataclass
class Service:
    """A running daemon we own: its port, process, log, and how to stop it."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int
    started_in_seconds: float

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process, self.stop_signal)


@dataclass
class PostgresServer(Service):
    bindir: Path = Path()
    socket_dir: Path = Path()
    app_password: str = ""
    monitor_password: str = ""
    app_user: str = APP_USER
    app_database: str = APP_DATABASE
    monitor_user: str = MONITOR_USER

    def superuser_connection(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        """Connect as `postgres` over the private Unix socket (trust auth, no password)."""
        return psycopg2.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname=dbname
        )


@dataclass
class PgBouncerServer(Service):
    config_path: Path = Path()


@dataclass
class RedisServer(Service):
    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class PrometheusServer(Service):
    config_path: Path = Path()
    data_dir: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# --- the run folder ----------------------------------------------------------------------


def make_run_dir(parent: Path | None = None) -> Path:
    """A fresh folder for one harness run; traversable so the `postgres` user reaches its parts."""
    base = (parent or Path(os.environ.get("LAB_TEST_TMP_ROOT", tempfile.gettempdir()))).resolve()
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX, dir=base)).resolve()
    run_dir.chmod(0o755)
    return run_dir


def _require_traversable(folder: Path) -> None:
    """The `postgres` user must be able to walk down to the run folder."""
    for path in [folder, *folder.parents]:
        if not path.stat().st_mode & 0o001:
            raise ServiceError(
                f"{path} is not searchable by the `postgres` user, so the test cluster "
                f"cannot live under {folder}; set LAB_TEST_TMP_ROOT=/tmp (or another open folder)"
            )


def _service_dir(run_dir: Path, name: str, user: OsUser | None) -> Path:
    path = run_dir / name
    path.mkdir(mode=0o700)
    if user is not None:
        os.chown(path, user.uid, user.gid)
    return path


def _write_private(path: Path, text: str, user: OsUser | None) -> None:
    path.write_text(text)
    path.chmod(0o600)
    if user is not None:
        os.chown(path, user.uid, user.gid)


def _with_free_port(what: str, start: Callable[[int], HandleT]) -> HandleT:
    """Call `start(port)` with a fresh port, retrying when another process took it meanwhile."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        try:
            return start(free_port())
        except ServiceError as error:
            if "in use" not in str(error) or attempt == _PORT_ATTEMPTS:
                raise
    raise AssertionError(f"unreachable: {what}")


def find_program(name: str, extra_dirs: tuple[str, ...] = ("/usr/sbin", "/usr/bin")) -> str:
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in extra_dirs if (Path(d) / name).exists()), None
    )
    if found is None:
        raise ServiceError(f"`{name}` not found; run `make bootstrap` (scripts/bootstrap.sh)")
    return found


def postgres_bindir() -> Path:
    """`PG_BINDIR` if set, else the newest /usr/lib/postgresql/<major>/bin (Debian layout)."""
    if configured := os.environ.get("PG_BINDIR"):
        if not (Path(configured) / "initdb").exists():
            raise ServiceError(f"PG_BINDIR={configured} has no initdb; unset it or fix the path")
        return Path(configured)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not candidates:
        raise ServiceError("PostgreSQL binaries not found; run `make bootstrap`")
    return candidates[-1].parent


# --- PostgreSQL --------------------------------------------------------------------------

_POSTGRES_CONF = """
# Added by tests/harness: a throwaway cluster, so durability is traded for speed.
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
timezone = 'UTC'  # as the lab's PostgreSQL: Django then never SETs it per connection
pg_stat_statements.track = all
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
"""


def start_postgres(run_dir: Path) -> PostgresServer:
    """initdb + postgres as the `postgres` user, then roles, database and extensions."""
    began = time.monotonic()
    user = daemon_user()
    if user is not None:
        _require_traversable(run_dir)
    bindir = postgres_bindir()
    base = _service_dir(run_dir, "postgres", user)
    data_dir = base / "data"
    socket_dir = base / "socket"
    socket_dir.mkdir()
    if user is not None:
        os.chown(socket_dir, user.uid, user.gid)
    run_checked(
        [
            str(bindir / "initdb"),
            "--pgdata",
            str(data_dir),
            "--username",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ],
        cwd=base,
        user=user,
        what="initdb",
    )
    log_path = base / "postgres.log"

    def start(port: int) -> PostgresServer:
        with open(data_dir / "postgresql.conf", "a") as conf:
            conf.write(_POSTGRES_CONF.format(port=port, socket_dir=socket_dir))
        started = time.monotonic()
        process = spawn(
            [str(bindir / "postgres"), "-D", str(data_dir)],
            log_path=log_path,
            cwd=base,
            user=user,
            death_signal=signal.SIGINT,
        )
        server = PostgresServer(
            name="postgres",
            port=port,
            process=process,
            log_path=log_path,
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back clients, checkpoint, exit
            started_in_seconds=0.0,
            bindir=bindir,
            socket_dir=socket_dir,
        )

        def accepts_queries() -> bool:
            try:
                server.superuser_connection().close()
            except psycopg2.OperationalError:
                return False
            return True

        try:
            wait_until(
                accepts_queries, what="PostgreSQL", process=process, log_path=log_path, timeout=60
            )
        except ServiceError:
            server.stop()
            raise
        server.started_in_seconds = time.monotonic() - started
        return server

    server = _with_free_port("PostgreSQL", start)
    try:
        _create_roles_and_extensions(server)
    except Exception:
        server.stop()
        raise
    # Report the whole cost (initdb, start, roles, extensions): it is what a run waits for.
    server.started_in_seconds = time.monotonic() - began
    return server


def _create_roles_and_extensions(server: PostgresServer) -> None:
    server.app_password = secrets.token_urlsafe(18)
    server.monitor_password = secrets.token_urlsafe(18)
    connection = server.superuser_connection()
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE ROLE {APP_USER} LOGIN CREATEDB PASSWORD %s", [server.app_password]
            )
            cursor.execute(
                f"CREATE ROLE {MONITOR_USER} LOGIN PASSWORD %s", [server.monitor_password]
            )
            cursor.execute(f"GRANT pg_monitor TO {MONITOR_USER}")
    finally:
        connection.close()
    # Extensions go into template1 first so every database made afterwards, including
    # Django's test database, has them without needing superuser rights.
    template = server.superuser_connection("template1")
    template.autocommit = True
    try:
        with template.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    finally:
        template.close()
    connection = server.superuser_connection()
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {APP_DATABASE} OWNER {APP_USER}")
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        connection.close()


# --- PgBouncer ---------------------------------------------------------------------------

_PGBOUNCER_INI = """\
;; Written by tests/harness for one test run.
[databases]
* = host=127.0.0.1 port={pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {socket_dir}
auth_type = scram-sha-256
auth_file = {userlist}
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
admin_users = {monitor_user}
stats_users = {monitor_user}
ignore_startup_parameters = extra_float_digits
logfile = {log}
pidfile = {pidfile}
"""


def start_pgbouncer(run_dir: Path, postgres: PostgresServer) -> PgBouncerServer:
    """PgBouncer in transaction mode in front of `postgres`, for every database name."""
    user = daemon_user()
    program = find_program("pgbouncer")
    base = _service_dir(run_dir, "pgbouncer", user)
    userlist = base / "userlist.txt"
    # Plain passwords let PgBouncer answer SCRAM from clients and speak SCRAM to the server.
    _write_private(
        userlist,
        f'"{postgres.app_user}" "{postgres.app_password}"\n'
        f'"{postgres.monitor_user}" "{postgres.monitor_password}"\n',
        user,
    )
    log_path = base / "pgbouncer.log"

    def start(port: int) -> PgBouncerServer:
        config_path = base / "pgbouncer.ini"
        _write_private(
            config_path,
            _PGBOUNCER_INI.format(
                pg_port=postgres.port,
                port=port,
                socket_dir=base,
                userlist=userlist,
                monitor_user=postgres.monitor_user,
                log=log_path,
                pidfile=base / "pgbouncer.pid",
            ),
            user,
        )
        started = time.monotonic()
        process = spawn(
            [program, str(config_path)], log_path=base / "stdout.log", cwd=base, user=user
        )
        server = PgBouncerServer(
            name="pgbouncer",
            port=port,
            process=process,
            log_path=log_path,
            stop_signal=signal.SIGTERM,  # immediate shutdown (SIGINT would wait for clients)
            started_in_seconds=0.0,
            config_path=config_path,
        )
        try:
            wait_until(
                lambda: port_accepts(port), what="PgBouncer", process=process, log_path=log_path
            )
        except ServiceError:
            server.stop()
            raise
        server.started_in_seconds = time.monotonic() - started
        return server

    return _with_free_port("PgBouncer", start)


# --- Redis -------------------------------------------------------------------------------

_REDIS_CONF = """\
# Written by tests/harness: a cache for one test run, nothing persisted.
bind 127.0.0.1
port {port}
protected-mode yes
daemonize no
save ""
appendonly no
dir {dir}
logfile {log}
# Keeps the config path (inside the run folder) in the process title, so
# stale-run cleanup can recognise this daemon from /proc/<pid>/cmdline.
proc-title-template "{{title}} {{listen-addr}} {{config-file}}"
"""


def start_redis(run_dir: Path) -> RedisServer:
    program = find_program("redis-server")
    base = _service_dir(run_dir, "redis", None)
    log_path = base / "redis.log"

    def start(port: int) -> RedisServer:
        config_path = base / "redis.conf"
        config_path.write_text(_REDIS_CONF.format(port=port, dir=base, log=log_path))
        started = time.monotonic()
        process = spawn([program, str(config_path)], log_path=base / "stdout.log", cwd=base)
        server = RedisServer(
            name="redis",
            port=port,
            process=process,
            log_path=log_path,
            stop_signal=signal.SIGTERM,
            started_in_seconds=0.0,
        )
        try:
            wait_until(lambda: redis_ping(port), what="Redis", process=process, log_path=log_path)
        except ServiceError:
            server.stop()
            raise
        server.started_in_seconds = time.monotonic() - started
        return server

    return _with_free_port("Redis", start)


def redis_ping(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# --- Prometheus --------------------------------------------------------------------------


def start_prometheus(config_path: Path, run_dir: Path, port: int | None = None) -> PrometheusServer:
    """A Prometheus server reading `config_path`, with its own TSDB inside `run_dir`.

    Pass `port` when the configuration must name it (a self-scrape); otherwise a
    free one is picked.
    """
    program = find_program("prometheus")
    base = Path(tempfile.mkdtemp(prefix="prometheus-", dir=run_dir))
    data_dir = base / "data"
    log_path = base / "prometheus.log"

    def start(port: int) -> PrometheusServer:
        started = time.monotonic()
        process = spawn(
            [
                program,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={data_dir}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            log_path=log_path,
            cwd=base,
        )
        server = PrometheusServer(
            name="prometheus",
            port=port,
            process=process,
            log_path=log_path,
            stop_signal=signal.SIGTERM,
            started_in_seconds=0.0,
            config_path=config_path,
            data_dir=data_dir,
        )
        try:
            wait_until(
                lambda: _http_ok(f"{server.url}/-/ready"),
                what="Prometheus",
                process=process,
                log_path=log_path,
            )
        except ServiceError:
            server.stop()
            raise
        server.started_in_seconds = time.monotonic() - started
        return server

    return start(port) if port is not None else _with_free_port("Prometheus", start)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL
            return bool(response.status == 200)
    except OSError:
        return False
