"""A real run's traces open everywhere: the report's waterfall in a real headless Chromium,
`lab trace` in the terminal, and the archive's Jaeger query API, all on one archived run
of Locust against the app (gunicorn) with the `n_plus_one` fault."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.browser import Browser
from tests.harness.live_app import LiveApp
from tests.lab.test_end_to_end import (  # noqa: F401 - archive_url is a fixture
    _lab,
    _related_lookups,
    _run_and_report,
    archive_url,
)
from tests.locust.conftest import live_apps, runs_dir, shops  # noqa: F401 - fixtures
from tests.observability.query_process import query_api

pytestmark = [pytest.mark.slow]


def _check_report_in_chromium(report: Path, trace_id: str, scratch: Path) -> None:
    with Browser() as browser:
        load = browser.open(report)
        assert load.problems == [], load.problems
        rows = browser.evaluate(
            f"[...document.querySelectorAll('#trace-{trace_id} tr')].slice(1)"
            ".map(r => [r.className, r.cells[0].textContent])"
        )
        kinds = [kind for kind, _ in rows]
        # Locust task -> client request -> Django server -> SQL (and the gaps between).
        assert [k for k in kinds if k != "gap"][:3] == ["task", "request", "server"], rows[:5]
        sql = [label for kind, label in rows if kind == "sql"]
        assert len(sql) >= 5, rows
        assert any("inventory_category" in label or "branch" in label for label in sql), sql
        assert all("?" in label or "=" not in label for label in sql), sql  # normalised
        assert "gap" in kinds
        # Every bar is drawn inside its track, with a width.
        bars = browser.evaluate(
            f"[...document.querySelectorAll('#trace-{trace_id} .b')].map(b => {{"
            " const r = b.getBoundingClientRect(), t = b.parentElement.getBoundingClientRect();"
            " return [r.width, r.left >= t.left - 0.5 && r.right <= t.right + 0.5]; })"
        )
        assert bars
        assert all(width > 0 and inside for width, inside in bars), bars
        # One click from the N+1 finding's trace id to its waterfall.
        browser.evaluate(f"document.querySelector('a[href=\"#trace-{trace_id}\"]').click()")
        assert browser.evaluate("location.hash") == f"#trace-{trace_id}"
        top = browser.evaluate(
            f"document.getElementById('trace-{trace_id}').getBoundingClientRect().top"
        )
        assert abs(top) < 5, top
        # The same browser notices a broken page: the check above can fail.
        planted = scratch / "planted.html"
        planted.write_text("<script>console.error('planted')</script><img src='missing.png'>")
        assert len(browser.open(planted).problems) >= 2


def test_a_real_runs_trace_opens_in_the_report_lab_trace_and_the_jaeger_api(
    live_apps: Callable[..., LiveApp],  # noqa: F811
    runs_dir: Path,  # noqa: F811
    archive_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": archive_url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    digest, _ = _run_and_report(runs_dir, live_apps(LAB_FAULTS="n_plus_one", **otlp), otlp)
    findings = list(_related_lookups(digest["n_plus_one"], "/inventory/").values())
    assert findings, json.dumps(digest["n_plus_one"], indent=1)
    trace_id = findings[0]["example_trace_id"]
    run_id = digest["run_id"]

    _check_report_in_chromium(runs_dir / run_id / "report.html", trace_id, tmp_path)

    # lab trace finds the run by itself.
    shown = _lab(runs_dir, "trace", trace_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"trace {trace_id}  run {run_id}")
    sources = [line[19:37].strip() for line in shown.stdout.splitlines()[2:]]
    for source in ("locust INTERNAL", "locust CLIENT", "jewelry-app SERVER", "postgresql"):
        assert source in sources, shown.stdout[:3000]
    unknown = _lab(runs_dir, "trace", "0" * 32)
    assert unknown.returncode == 2
    assert len(unknown.stderr.strip().splitlines()) == 1

    # The Jaeger query API over the same runs folder.
    with query_api(runs_dir, tmp_path / "query.log") as api:
        status, body = api.get("/api/services")
        assert status == 200
        assert {"locust", "jewelry-app"} <= set(body["data"])
        status, body = api.get(f"/api/traces/{trace_id}")
        assert status == 200, body
        (trace,) = body["data"]
        services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
        by_id = {s["spanID"]: s for s in trace["spans"]}

        def kind(span: dict) -> str:
            return next(t["value"] for t in span["tags"] if t["key"] == "span.kind")

        # A task's trace holds one server span per request it made (a workflow task makes
        # several); each is the app's, under a Locust client span.
        servers = [s for s in trace["spans"] if kind(s) == "server"]
        assert servers
        for server in servers:
            assert services[server["processID"]] == "jewelry-app"
            (parent_ref,) = server["references"]
            client = by_id[parent_ref["spanID"]]
            assert services[client["processID"]] == "locust"
            assert kind(client) == "client"
        queries = [s for s in trace["spans"] if any(t["key"] == "db.system" for t in s["tags"])]
        assert len(queries) >= 5

        def statements_under(server: dict) -> int:
            return sum(1 for q in queries if q["references"][0]["spanID"] == server["spanID"])

        # The N+1 request: the server span with the most statements directly under it.
        server = max(servers, key=statements_under)
        assert statements_under(server) >= 5
        # Grafana's search for this run's slow requests of the route finds the trace.
        window = (server["startTime"] - 60_000_000, server["startTime"] + 60_000_000)
        status, body = api.get(
            "/api/traces",
            {
                "service": "jewelry-app",
                "operation": server["operationName"],
                "tags": json.dumps({"lab.run_id": run_id}),
                # Jaeger's durations are truncated to whole microseconds: 1 us of slack.
                "minDuration": f"{server['duration'] - 1}us",
                "limit": "1000",
                "start": str(window[0]),
                "end": str(window[1]),
                "lookback": "custom",
            },
        )
        assert status == 200, body
        found = [t["traceID"] for t in body["data"]]
        assert trace_id in found
        assert all(
            max(s["duration"] for s in t["spans"] if s["operationName"] == server["operationName"])
            >= server["duration"] - 1
            for t in body["data"]
        )
