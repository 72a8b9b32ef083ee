"""`python -m tests.harness [--] CMD...`: run CMD with its own PostgreSQL, PgBouncer and Redis.

Cleans up after killed earlier runs, starts the services on free loopback
ports in a fresh temp folder, exports their facts (see environment.py), runs
CMD, stops everything (also on SIGINT/SIGTERM) and exits with CMD's code.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TypeVar

from tests.harness.environment import REPO_ROOT, ServiceFacts, command_env
from tests.harness.processes import ServiceError, die_with_parent
from tests.harness.registry import RecordedService, RunRecord, RunRegistry, report
from tests.harness.services import (
    Service,
    make_run_dir,
    start_pgbouncer,
    start_postgres,
    start_redis,
)

USAGE = "usage: python -m tests.harness [--] COMMAND [ARG...]   e.g. -- .venv/bin/pytest -q"
# Overridable so the harness's own tests can play "killed run" without touching real records.
REGISTRY_DIR = Path(os.environ.get("LAB_TEST_REGISTRY_DIR", REPO_ROOT / ".lab-test"))

ServiceT = TypeVar("ServiceT", bound=Service)


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def log(message: str) -> None:
    print(f"[harness] {message}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print(USAGE, file=sys.stderr)
        return 2
    if shutil.which(command[0]) is None:
        print(f"[harness] command not found: {command[0]}", file=sys.stderr)
        return 127

    registry = RunRegistry(REGISTRY_DIR)
    report(registry.clean_stale())

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)

    run_dir = make_run_dir()
    record = RunRecord.for_this_process(run_dir)
    registry.save(record)
    services: list[Service] = []
    started_at = time.monotonic()
    try:
        try:
            postgres = _started(start_postgres(run_dir), services, record, registry)
            pgbouncer = _started(start_pgbouncer(run_dir, postgres), services, record, registry)
            redis = _started(start_redis(run_dir), services, record, registry)
        except ServiceError as error:
            log(f"could not start the test services: {error}")
            return 1
        log(f"services ready in {time.monotonic() - started_at:.1f}s (temp folder {run_dir})")
        facts = ServiceFacts(
            database_host="127.0.0.1",
            database_port=pgbouncer.port,
            database_direct_port=postgres.port,
            database_name=postgres.app_database,
            database_user=postgres.app_user,
            database_password=postgres.app_password,
            monitor_user=postgres.monitor_user,
            monitor_password=postgres.monitor_password,
            redis_url=redis.url,
            pg_bindir=postgres.bindir,
            tmpdir=run_dir,
        )
        env = command_env(facts)
        if not _collect_static(env):
            return 1
        return _run_command(command, env)
    except Interrupted as interruption:
        log(f"interrupted by {interruption}; stopping services")
        return 128 + interruption.signum
    finally:
        # Stopping must not be cut short by a second Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopping_at = time.monotonic()
        for service in reversed(services):
            service.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        registry.remove(record)
        log(f"services stopped in {time.monotonic() - stopping_at:.1f}s")


def _started(
    service: ServiceT, services: list[Service], record: RunRecord, registry: RunRegistry
) -> ServiceT:
    services.append(service)
    record.services.append(RecordedService(service.name, service.pid, service.stop_signal))
    registry.save(record)
    log(
        f"{service.name} on 127.0.0.1:{service.port} (pid {service.pid}) "
        f"started in {service.started_in_seconds:.1f}s"
    )
    return service


def _collect_static(env: dict[str, str]) -> bool:
    """The app's hashed and compressed assets, as the image build makes them (issue 16).

    Templates name assets through the manifest this writes: without it every page is a 500.
    """
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "app/manage.py", "collectstatic", "--noinput", "-v", "0"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        # A harness killed meanwhile must not leave it writing into a folder the next run
        # cleans up (tests/harness/test_services.py).
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    if done.returncode != 0:
        log(f"collectstatic failed: {done.stderr.strip()[-2000:]}")
        return False
    log(
        f"static files collected in {time.monotonic() - started:.1f}s ({env['DJANGO_STATIC_ROOT']})"
    )
    return True


def _run_command(command: list[str], env: dict[str, str]) -> int:
    """Run CMD in our process group (so a terminal's Ctrl-C reaches it directly).

    Signals sent to the harness alone are passed on, so CMD finishes its own
    teardown (pytest fixtures) before the services go away.
    """
    log(f"running: {' '.join(command)}")
    child = subprocess.Popen(
        command, env=env, cwd=REPO_ROOT, preexec_fn=die_with_parent(signal.SIGTERM)
    )

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is not None:
            return
        if signum == signal.SIGINT and _terminal_sent_it_to_the_group():
            return  # CMD got this Ctrl-C itself; a second one would make pytest abort hard
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    returncode = child.wait()
    return returncode if returncode >= 0 else 128 - returncode


def _terminal_sent_it_to_the_group() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):  # no terminal (CI: stdin is not a tty)
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
