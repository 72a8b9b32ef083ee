"""Start the trace archive as a real subprocess on a free port, read its /metrics, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from tests.harness.environment import REPO_ROOT

START_TIMEOUT_SECONDS = 20.0


@dataclass
class ArchiveProcess:
    process: subprocess.Popen[bytes]
    port: int
    runs_dir: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        return f"{self.url}/v1/traces"

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:  # noqa: S310
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_archive(runs_dir: Path, log_path: Path, *extra_args: str) -> ArchiveProcess:
    ready_file = log_path.with_suffix(".port")
    ready_file.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}"}
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "observability.trace_archive",
                "--runs-dir",
                str(runs_dir),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--ready-file",
                str(ready_file),
                "--tail",
                "0",  # these tests send their own spans, with no Locust verdicts
                *extra_args,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if ready_file.exists() and ready_file.read_text().strip():
            port = int(ready_file.read_text())
            return ArchiveProcess(process, port, runs_dir, log_path)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"trace archive did not start:\n{log_path.read_text(errors='replace')}")


def read_spans(runs_dir: Path) -> list[dict[str, object]]:
    """Every row of every complete part under runs_dir, with the folder it was found in."""
    rows: list[dict[str, object]] = []
    for part in sorted(runs_dir.glob("*/spans/part-*.parquet")):
        folder = part.parent.parent.name
        for row in pq.read_table(part).to_pylist():
            row["folder"] = folder
            rows.append(row)
    return rows
