"""Start the archive's Jaeger query API as a real subprocess on a free port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.harness.environment import REPO_ROOT

START_TIMEOUT_SECONDS = 20.0


class QueryApi:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as answer:  # noqa: S310
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@contextmanager
def query_api(runs_dir: Path, log_path: Path) -> Iterator[QueryApi]:
    ready = log_path.with_suffix(".port")
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "observability.trace_archive.query", "--runs-dir",
             str(runs_dir), "--port", "0", "--ready-file", str(ready)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (ready.is_file() and ready.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"query API did not start: {log_path.read_text()}")
            time.sleep(0.05)
        yield QueryApi(int(ready.read_text()))
    finally:
        process.terminate()
        process.wait(10)
