"""Locust's end-of-run verdicts fire on real runs: an app that answers 500 breaches the
failure ratio, and a record that cannot be written is reported as incomplete (untrustworthy).
The app here is a tiny real HTTP server on loopback that fails every request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.locust.conftest import run_locust

pytestmark = [pytest.mark.slow]

SHORT_RUN = {
    "LAB_SCENARIO": "APIUser",
    "LAB_USERS": "2",
    "LAB_SPAWN_RATE": "2",
    "LAB_DURATION": "5s",
}


class AlwaysFails(BaseHTTPRequestHandler):
    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"error": "internal"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _fail  # http.server dispatches on these names

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def failing_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysFails)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_an_app_answering_500_breaches_the_failure_ratio(failing_app: str, runs_dir) -> None:
    run = run_locust(failing_app, runs_dir, "20260101-000000-smoke-5000", env=SHORT_RUN)
    assert run.returncode == 1, run.output[-4000:]
    assert "CHECK FAILED: failure ratio of all requests is 100.00% (threshold 1.00%)" in run.output
    requests, failures = run.locust_total()
    assert requests == failures > 0
    record = run.record()
    assert record.num_rows == requests
    assert set(record["status"].to_pylist()) == {500}
    failed = [e["detail"] for e in run.events() if e["kind"] == "check_failed"]
    assert {
        "check": "failure_ratio",
        "name": "all requests",
        "value": 1.0,
        "threshold": 0.01,
    } in failed
    kinds = [e["kind"] for e in run.events()]
    assert "record_incomplete" not in kinds  # every request is in the record
    assert "untrustworthy" not in kinds


def test_a_record_that_cannot_be_written_is_incomplete(failing_app: str, runs_dir) -> None:
    run_id = "20260101-000000-smoke-b10c"
    # A file where the process's record folder should be: every flush fails, as on a full or
    # read-only disk; Locust still counts the requests.
    (runs_dir / run_id / "requests").mkdir(parents=True)
    (runs_dir / run_id / "requests" / "local").write_text("not a folder")
    run = run_locust(failing_app, runs_dir, run_id, env=SHORT_RUN)
    events = run.events()
    incomplete = [e["detail"] for e in events if e["kind"] == "record_incomplete"]
    requests, _failures = run.locust_total()
    assert incomplete == [{"recorded": 0, "locust_requests": requests}], run.output[-4000:]
    assert requests > 0
    untrustworthy = [e["detail"] for e in events if e["kind"] == "untrustworthy"]
    assert untrustworthy == [{"reasons": ["record_incomplete"]}]
    assert "is not trustworthy: record_incomplete" in run.output
    assert run.returncode == 1  # a breach outranks an untrustworthy run (nothing recorded)
