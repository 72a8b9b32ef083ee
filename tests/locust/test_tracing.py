"""A Locust request's trace id is the app's: task span -> client span -> Django server span.

Locust and the app (gunicorn) both export over real OTLP/HTTP to the lab's trace archive,
which writes the run's spans to runs/<id>/spans/.
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.harness.environment import REPO_ROOT
from tests.locust.conftest import RELAXED_TARGETS, run_locust, start_process, stop, wait_for

pytestmark = [pytest.mark.slow]

RUN_ID = "20260101-000000-smoke-7ace"


@pytest.fixture
def trace_archive(runs_dir, tmp_path):
    ready = tmp_path / "archive.port"
    process = start_process(
        [
            sys.executable,
            "-m",
            "observability.trace_archive",
            "--runs-dir",
            str(runs_dir),
            "--port",
            "0",
            "--ready-file",
            str(ready),
        ],
        env={"PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"},
        log=tmp_path / "archive.log",
    )
    wait_for(lambda: ready.is_file() and ready.read_text().strip() != "", 30, "the trace archive")
    yield process, f"http://127.0.0.1:{int(ready.read_text().strip())}"
    stop(process)


def test_sampled_requests_share_their_trace_with_the_app_server_span(
    live_apps, runs_dir, trace_archive
) -> None:
    archive, endpoint = trace_archive
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    app = live_apps(**otlp)
    run = run_locust(
        app.url,
        runs_dir,
        RUN_ID,
        env={
            **otlp,
            "LAB_SCENARIO": "",
            "LAB_USERS": "8",
            "LAB_SPAWN_RATE": "4",
            "LAB_DURATION": "12s",  # eight Argon2 sign-ins first: every class gets tasks in
            "LAB_TRACE_SAMPLE_RATIO": "1",
        },
        targets=RELAXED_TARGETS,
    )
    assert run.returncode == 0, run.output[-4000:]
    record = run.record()
    app.stop()  # flushes the app's span processors
    stop(archive)  # flushes the archive's buffered spans to Parquet

    parts = sorted((runs_dir / RUN_ID / "spans").glob("part-*.parquet"))
    assert parts, "the trace archive wrote no spans for this run"
    spans = pa.concat_tables(pq.read_table(p) for p in parts).to_pylist()
    by_id = {span["span_id"]: span for span in spans}
    servers = [s for s in spans if s["service_name"] == "jewelry-app" and s["kind"] == "SERVER"]
    assert servers

    for scenario in ("TenantUser", "APIUser"):  # HttpUser and FastHttpUser
        traced = {
            row["trace_id"]
            for row in record.to_pylist()
            if row["scenario"] == scenario and row["trace_id"] and row["name"] != "/accounts/login/"
        }
        assert traced, f"no sampled {scenario} requests in the record"
        matched = 0
        for server in servers:
            if server["trace_id"] not in traced:
                continue
            client = by_id.get(server["parent_span_id"])
            assert client is not None, f"server span {server['name']} has no Locust parent"
            assert client["service_name"] == "locust"
            assert client["kind"] == "CLIENT"
            task = by_id.get(client["parent_span_id"])
            assert task is not None, client
            assert task["kind"] == "INTERNAL", client
            assert task["name"].startswith(f"{scenario}.")
            assert server["run_id"] == RUN_ID  # baggage lab.run_id reached the app
            matched += 1
        assert matched > 0, f"no app server span shares a trace id with {scenario}'s record"

    # A workflow transaction is its task span: marked, the parent of each of its requests'
    # spans, and its row in the transactions record carries that trace.
    workflow_tasks = {
        s["trace_id"]: s
        for s in spans
        if s["kind"] == "INTERNAL" and "lab.workflow" in json.loads(s["attributes"])
    }
    assert workflow_tasks, "no workflow task span archived"
    transactions = {row["trace_id"]: row for row in run.transactions().to_pylist()}
    for trace_id, task in workflow_tasks.items():
        attributes = json.loads(task["attributes"])
        row = transactions[trace_id]
        assert attributes["lab.workflow"] == row["name"]
        assert attributes["lab.workflow.success"] is (row["failure"] is None)
        assert attributes["lab.workflow.requests"] == row["requests"]
        clients = [
            c for c in spans if c["trace_id"] == trace_id and c["kind"] == "CLIENT"
            and c["service_name"] == "locust"
        ]  # fmt: skip
        assert len(clients) == row["requests"]
        assert all(c["parent_span_id"] == task["span_id"] for c in clients)
        assert task["start_unix_ns"] <= min(c["start_unix_ns"] for c in clients)
        assert task["end_unix_ns"] >= max(c["end_unix_ns"] for c in clients)

    # Down to the statements: an inventory page's server span is the parent of the psycopg2
    # spans of its queries and of the Redis span of its session lookup, all in the run.
    children: dict[str, list[dict]] = {}
    for span in spans:
        children.setdefault(span["parent_span_id"], []).append(span)
    inventory_pages = [
        s for s in servers if s["http_route"] == "inventory/" and by_id.get(s["parent_span_id"])
    ]
    assert inventory_pages, sorted({s["http_route"] for s in servers if s["http_route"]})
    for server in inventory_pages:
        below = children.get(server["span_id"], [])
        systems = {child["db_system"] for child in below}
        assert {"postgresql", "redis"} <= systems, (server["name"], systems)
        statements = [c for c in below if c["db_system"] == "postgresql"]
        assert any("inventory_item" in (c["db_statement"] or "") for c in statements)
        assert all(c["trace_id"] == server["trace_id"] for c in below)
        assert all(c["run_id"] == RUN_ID for c in below)
        assert all(c["service_name"] == "jewelry-app" for c in below)


def test_a_dead_trace_backend_costs_spans_never_requests(live_apps, runs_dir, free_port) -> None:
    # Nothing listens there: every export fails, quickly (1 s timeout), on both sides.
    otlp = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    app = live_apps(**otlp)
    run = run_locust(
        app.url,
        runs_dir,
        "20260101-000000-smoke-d0a0",
        env={
            **otlp,
            "LAB_SCENARIO": "TenantUser",
            "LAB_USERS": "3",
            "LAB_SPAWN_RATE": "3",
            "LAB_DURATION": "8s",
            "LAB_TRACE_SAMPLE_RATIO": "1",
        },
        targets=RELAXED_TARGETS,
    )
    assert run.returncode == 0, run.output[-4000:]
    requests, failures = run.locust_total()
    assert requests > 0
    assert failures == 0
    assert run.record().num_rows == requests  # the record does not depend on tracing
    dropped = [e["detail"]["count"] for e in run.events() if e["kind"] == "spans_dropped"]
    assert dropped, "Locust did not count the spans it could not export"
    assert dropped[-1] > 0

    def app_dropped() -> float:
        status, body = app.get("/metrics")
        assert status == 200
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith("jewelry_spans_dropped_total{")
        )

    wait_for(lambda: app_dropped() > 0, 30, "the app to count its dropped spans")
