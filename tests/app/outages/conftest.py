"""Dependencies this test owns and can stop and start again on the same port.

The harness's own Redis and PgBouncer serve every other test, so an outage is played on a
private Redis, and on a private PgBouncer in front of the harness's PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness.environment import ServiceFacts
from tests.harness.processes import (
    daemon_user,
    free_port,
    port_accepts,
    spawn,
    stop_process,
    wait_until,
)
from tests.harness.services import find_program, make_run_dir, redis_ping


@dataclass
class Restartable:
    """A daemon on a fixed port: `stop()` is the outage, `start()` brings it back."""

    name: str
    argv: list[str]
    folder: Path
    port: int
    stop_signal: int
    as_daemon_user: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self.name}.log"

    def ready(self) -> bool:
        return redis_ping(self.port) if self.name == "redis" else port_accepts(self.port)

    def start(self) -> None:
        user = daemon_user() if self.as_daemon_user else None
        self.process = spawn(self.argv, log_path=self.log_path, cwd=self.folder, user=user)
        wait_until(self.ready, what=self.name, process=self.process, log_path=self.log_path)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, self.stop_signal)
        self.process = None


@pytest.fixture
def private_redis(services: ServiceFacts) -> Iterator[Restartable]:
    folder = make_run_dir(services.tmpdir)
    port = free_port()
    argv = [find_program("redis-server"), "--bind", "127.0.0.1", "--port", str(port)]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    redis = Restartable("redis", argv, folder, port, signal.SIGTERM)
    redis.start()
    yield redis
    redis.stop()


_PGBOUNCER_INI = """\
[databases]
* = host={host} port={pg_port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {folder}/userlist.txt
pool_mode = transaction
default_pool_size = 10
ignore_startup_parameters = extra_float_digits
"""


@pytest.fixture
def private_pgbouncer(services: ServiceFacts) -> Iterator[Restartable]:
    """PgBouncer (transaction pooling, like the lab's) in front of the harness's PostgreSQL."""
    folder = make_run_dir(services.tmpdir)
    port = free_port()
    (folder / "userlist.txt").write_text(
        f'"{services.database_user}" "{services.database_password}"\n'
    )
    config = folder / "pgbouncer.ini"
    config.write_text(
        _PGBOUNCER_INI.format(
            host=services.database_host,
            pg_port=services.database_direct_port,
            port=port,
            folder=folder,
        )
    )
    user = daemon_user()
    for path in (folder, folder / "userlist.txt", config):
        path.chmod(0o700 if path.is_dir() else 0o600)
        if user is not None:
            os.chown(path, user.uid, user.gid)
    # SIGKILL: an abrupt outage (a crash), the same on every PgBouncer version.
    bouncer = Restartable(
        "pgbouncer", [find_program("pgbouncer"), str(config)], folder, port, signal.SIGKILL, True
    )
    bouncer.start()
    yield bouncer
    bouncer.stop()
