"""Fixtures for lab/ tests: run folders of synthetic records, the CLI, a backfilled Prometheus."""

from __future__ import annotations

import hashlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.__main__ import main
from tests.harness.processes import free_port, spawn, stop_process, wait_until
from tests.harness.services import find_program

# 2026-01-01T00:00:00Z: synthetic runs start here unless a test needs "recent" data.
T0_US = 1_767_225_600_000_000


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def lab_cli(runs_root: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `lab --runs-dir <tmp runs> ARGS...` in-process; returns exit code and output."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(["--runs-dir", str(runs_root), *args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def tree_digest(folder: Path) -> dict[str, str]:
    """Path -> sha256 of every file: proves a command left its inputs alone."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass
class BackfilledPrometheus:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def backfilled_prometheus(
    tmp_path: Path,
) -> Iterator[Callable[[str], BackfilledPrometheus]]:
    """Factory: backfill OpenMetrics text with promtool, then start a real Prometheus on it.

    The harness's `prometheus_server` starts on an empty TSDB and Prometheus only loads
    blocks added later after about a minute; backfilling before start is instant.
    """
    started: list[BackfilledPrometheus] = []

    def start(openmetrics: str) -> BackfilledPrometheus:
        base = tmp_path / f"prom-{len(started)}"
        data = base / "data"
        data.mkdir(parents=True)
        source = base / "input.om"
        source.write_text(openmetrics)
        subprocess.run(
            [
                find_program("promtool"),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(data),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        config = base / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n")
        port = free_port()
        log = base / "prometheus.log"
        process = spawn(
            [
                find_program("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=7d",
                "--log.level=warn",
            ],
            log_path=log,
            cwd=base,
        )
        server = BackfilledPrometheus(f"http://127.0.0.1:{port}", process)
        started.append(server)
        wait_until(lambda: _ready(server.url), what="Prometheus", process=process, log_path=log)
        return server

    yield start
    for server in started:
        stop_process(server.process, signal.SIGTERM)


def _ready(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False
