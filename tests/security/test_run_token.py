"""Run ids come only from the lab's Locust: forged baggage never lands in a run's folder.

The real app (gunicorn, OpenTelemetry) exports to a real trace archive. A request whose
baggage names a run without the run's token (or with a wrong one) is not traced at all,
even with a sampled traceparent; the same request with the token Locust computes is traced
and filed under its run.
"""

from __future__ import annotations

import os
import secrets
import urllib.request
from collections.abc import Callable

import pytest

from lab.run_token import RUN_TOKEN_KEY_ENV, run_token
from tests.harness.live_app import LiveApp
from tests.observability.archive_process import ArchiveProcess, read_spans

pytestmark = [pytest.mark.slow]

VICTIM_RUN = "20260101-000000-load-f00d"
GENUINE_RUN = "20260101-000000-load-600d"


def get_with_trace(app: LiveApp, trace_id: str, baggage: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback app
        f"{app.url}/accounts/login/",
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "baggage": baggage},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        return response.status


def test_forged_baggage_never_lands_in_a_run_folder(
    archive_factory: Callable[..., ArchiveProcess], live_apps: Callable[..., LiveApp]
) -> None:
    key = os.environ[RUN_TOKEN_KEY_ENV].encode()
    archive = archive_factory("--flush-seconds", "0.2")
    app = live_apps(OTEL_EXPORTER_OTLP_ENDPOINT=archive.url, OTEL_BSP_SCHEDULE_DELAY="100")
    forged = {
        secrets.token_hex(16): f"lab.run_id={VICTIM_RUN},synthetic_request=true",
        secrets.token_hex(16): f"lab.run_id={VICTIM_RUN},lab.run_token={'0' * 32}",
        # A genuine token of another run does not open this one.
        secrets.token_hex(
            16
        ): f"lab.run_id={VICTIM_RUN},lab.run_token={run_token(GENUINE_RUN, key)}",
    }
    genuine_trace = secrets.token_hex(16)
    for trace_id, baggage in forged.items():
        assert get_with_trace(app, trace_id, baggage) == 200
    genuine_baggage = (
        f"lab.run_id={GENUINE_RUN},synthetic_request=true,"
        f"lab.run_token={run_token(GENUINE_RUN, key)}"
    )
    assert get_with_trace(app, genuine_trace, genuine_baggage) == 200
    app.stop()  # flushes the app's span processor
    assert archive.stop() == 0

    spans = read_spans(archive.runs_dir)
    assert not (archive.runs_dir / VICTIM_RUN).exists()
    assert not [s for s in spans if s["trace_id"] in forged], "a forged request was traced"
    genuine = [s for s in spans if s["trace_id"] == genuine_trace]
    assert genuine, "the genuine request was not traced"
    assert {s["folder"] for s in genuine} == {GENUINE_RUN}
    assert any(s["kind"] == "SERVER" and s["service_name"] == "jewelry-app" for s in genuine)
    assert "lab.run_token" not in "".join(s["attributes"] for s in genuine)
