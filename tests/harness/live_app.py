"""The app under gunicorn, as the lab runs it, on a free loopback port, for tests that need HTTP.

It points at the pytest-django test database, so the data a test commits (tests marked
`django_db(transaction=True)`) is what the app serves.
"""

from __future__ import annotations

import os
import signal
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.harness.environment import REPO_ROOT
from tests.harness.processes import free_port, spawn, stop_process, wait_until

GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class LiveApp:
    url: str
    port: int
    log_path: Path
    metrics_dir: Path
    _process: object

    def stop(self) -> None:
        stop_process(self._process, signal.SIGTERM)  # type: ignore[arg-type]

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def start_live_app(
    workdir: Path,
    *,
    database_name: str,
    env: Mapping[str, str] | None = None,
    workers: int = 2,
    threads: int = 2,
) -> LiveApp:
    """Start gunicorn with the lab's config; `env` adds or overrides variables (LAB_FAULTS…)."""
    port = free_port()
    metrics_dir = workdir / f"prometheus-multiproc-{port}"
    log_path = workdir / f"gunicorn-{port}.log"
    child_env = dict(os.environ)
    child_env.update(
        {
            "DATABASE_NAME": database_name,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
    )
    child_env.update(env or {})
    process = spawn(
        [str(GUNICORN), "-c", "config/gunicorn.conf.py"],
        log_path=log_path,
        cwd=REPO_ROOT / "app",
        env=child_env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url), what="gunicorn", process=process, log_path=log_path)
    except BaseException:
        stop_process(process, signal.SIGTERM)
        raise
    return LiveApp(url, port, log_path, metrics_dir, process)
