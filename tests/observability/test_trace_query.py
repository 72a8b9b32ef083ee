"""The archive's Jaeger query API, as a real process over run folders, against the JSON shape
of Jaeger v2.8.0 (internal/uimodel/model.go, cmd/query/app/http_handler.go) and with the
parameters Grafana's Jaeger datasource sends (pkg/tsdb/jaeger/client.go: service,
operation, tags as JSON, minDuration, maxDuration, limit; the UI adds start, end, lookback)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.lab.traces import START_NS, n_plus_one_trace, task_trace
from tests.observability.query_process import QueryApi, query_api
from tests.synthetic import DbCall, write_meta, write_span_part

ENVELOPE_KEYS = {"data", "total", "limit", "offset", "errors"}
TRACE_KEYS = {"traceID", "spans", "processes", "warnings"}
SPAN_KEYS = {
    "traceID",
    "spanID",
    "flags",
    "operationName",
    "references",
    "startTime",
    "duration",
    "tags",
    "logs",
    "processID",
    "warnings",
}
HOUR_NS = 3600 * 10**9


def _traces(run_id: str, offset_ns: int, inventory: int, dashboard: int) -> list[list[dict]]:
    traces = [
        n_plus_one_trace(f"{run_id}-inv-{i}", offset_ns + i * 10**9, run_id=run_id)
        for i in range(inventory)
    ]
    traces += [
        task_trace(
            f"{run_id}-dash-{i}",
            route="/dashboard/",
            start_ns=offset_ns + (i + 50) * 10**9,
            calls=[DbCall("SELECT count(*) FROM sales_sale WHERE tenant_id = 3", 4.0)],
            run_id=run_id,
        )
        for i in range(dashboard)
    ]
    return traces


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QueryApi, dict]]:
    root = tmp_path_factory.mktemp("query") / "runs"
    runs = {
        "run-a": ("20260101-000000-load-aaaa", _traces("run-a", START_NS, 3, 2)),
        "run-b": ("20260101-020000-load-bbbb", _traces("run-b", START_NS + 2 * HOUR_NS, 2, 2)),
    }
    for folder, traces in runs.values():
        write_meta(root / folder)
        # One part per trace, as the archive writes many small parts.
        for seq, trace in enumerate(traces):
            write_span_part(root / folder, trace, seq=seq)
    # A part cut short by a crash: left out, the rest still answers.
    (root / runs["run-b"][0] / "spans" / "part-1700000000000000000-999999.parquet").write_bytes(
        b"PAR1 truncated"
    )
    with query_api(root, root.parent / "query.log") as api:
        yield api, {run: traces for run, (_, traces) in runs.items()}


def _ids(traces: list[list[dict]]) -> list[str]:
    return [t[0]["trace_id"] for t in traces]


def test_services_and_operations(archive: tuple[QueryApi, dict]) -> None:
    api, _ = archive
    status, body = api.get("/api/services")
    assert status == 200
    assert set(body) == ENVELOPE_KEYS
    assert body["data"] == ["jewelry-app", "locust"]
    assert body["total"] == 2
    status, body = api.get("/api/services/jewelry-app/operations")
    assert status == 200
    assert {"GET /inventory/", "GET /dashboard/", "SELECT", "GET"} == set(body["data"])
    status, body = api.get("/api/operations", {"service": "jewelry-app", "spanKind": "server"})
    assert status == 200
    assert body["data"] == [
        {"name": "GET /dashboard/", "spanKind": "server"},
        {"name": "GET /inventory/", "spanKind": "server"},
    ]


def test_one_trace_in_jaegers_json_shape(archive: tuple[QueryApi, dict]) -> None:
    api, runs = archive
    spans = runs["run-a"][1]
    trace_id = spans[0]["trace_id"]
    status, body = api.get(f"/api/traces/{trace_id}")
    assert status == 200
    assert set(body) == ENVELOPE_KEYS
    (trace,) = body["data"]
    assert set(trace) == TRACE_KEYS
    assert trace["traceID"] == trace_id
    assert len(trace["spans"]) == len(spans) == 17
    assert all(set(span) == SPAN_KEYS for span in trace["spans"])
    processes = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    assert processes == {"p1": "locust", "p2": "jewelry-app"}  # in order of appearance
    by_id = {span["spanID"]: span for span in trace["spans"]}
    source = {row["span_id"]: row for row in spans}
    for span_id, span in by_id.items():
        row = source[span_id]
        assert span["startTime"] == row["start_unix_ns"] // 1000
        assert span["duration"] == row["end_unix_ns"] // 1000 - row["start_unix_ns"] // 1000
        parent = row["parent_span_id"]
        assert span["references"] == (
            [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent}] if parent else []
        )
        assert processes[span["processID"]] == row["service_name"]
    server = next(s for s in trace["spans"] if s["operationName"] == "GET /inventory/"
                  and processes[s["processID"]] == "jewelry-app")  # fmt: skip
    tags = {t["key"]: (t["type"], t["value"]) for t in server["tags"]}
    assert tags["span.kind"] == ("string", "server")
    assert tags["http.response.status_code"] == ("int64", 200)
    assert tags["lab.run_id"] == ("string", "run-a")


def test_grafana_search_filters_by_service_operation_tags_duration_and_time(
    archive: tuple[QueryApi, dict],
) -> None:
    api, runs = archive
    run_b = START_NS + 2 * HOUR_NS
    grafana = {
        "service": "jewelry-app",
        "operation": "GET /inventory/",
        "tags": json.dumps({"lab.run_id": "run-b"}),
        "minDuration": "40ms",
        "maxDuration": "1s",
        "limit": "20",
        "start": str((run_b - HOUR_NS) // 1000),
        "end": str((run_b + HOUR_NS) // 1000),
        "lookback": "custom",
    }
    status, body = api.get("/api/traces", grafana)
    assert status == 200, body
    # run-b's two inventory traces (47.5 ms servers), newest first; its dashboards are faster.
    assert [t["traceID"] for t in body["data"]] == list(reversed(_ids(runs["run-b"][:2])))
    assert all(len(t["spans"]) == 17 for t in body["data"])

    def found(**changes: str) -> list[str]:
        params = {**grafana, **changes}
        params = {k: v for k, v in params.items() if v}
        status, body = api.get("/api/traces", params)
        assert status == 200, body
        return [t["traceID"] for t in body["data"]]

    assert found(minDuration="50ms") == []  # every span of interest is 47.5 ms
    assert found(tags=json.dumps({"lab.run_id": "run-a"})) == []  # outside the time window
    assert sorted(found(tags=json.dumps({"lab.run_id": "run-a"}), start="", end="")) == sorted(
        _ids(runs["run-a"][:3])
    )
    # Every Locust span lasts over 9 ms (the database spans are the app's, not Locust's).
    assert found(service="locust", operation="", minDuration="", maxDuration="9ms", start="",
                 end="", tags="") == []  # fmt: skip
    dashboards = found(operation="GET /dashboard/", minDuration="", start="", end="", tags="")
    assert sorted(dashboards) == sorted(_ids(runs["run-a"][3:] + runs["run-b"][2:]))
    assert len(found(operation="", minDuration="", start="", end="", tags="", limit="3")) == 3
    assert sorted(found(tags="", start="", end="", operation="", tag="span.kind:server")) == sorted(
        _ids(runs["run-a"][:3] + runs["run-b"][:2])
    )


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/traces/" + "0" * 31 + "1", {}, 404, "trace not found"),
        ("/api/traces/not-hex", {}, 400, "cannot parse traceID"),
        ("/api/traces", {"operation": "GET"}, 400, "parameter 'service' is required"),
        ("/api/traces", {"service": "locust", "minDuration": "5 parsecs"}, 400, "minDuration"),
        ("/api/traces", {"service": "locust", "tags": "{not json"}, 400, "malformed 'tags'"),
        (
            "/api/traces",
            {"service": "locust", "minDuration": "2s", "maxDuration": "1s"},
            400,
            "'maxDuration' should be greater than 'minDuration'",
        ),
    ],
)
def test_bad_requests_answer_in_jaegers_error_shape(
    archive: tuple[QueryApi, dict], path: str, params: dict[str, str], status: int, message: str
) -> None:
    api, _ = archive
    got, body = api.get(path, params)
    assert got == status
    assert set(body) == ENVELOPE_KEYS
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["code"] == status
    assert message in error["msg"]


def test_search_by_trace_ids_reports_the_missing_one(archive: tuple[QueryApi, dict]) -> None:
    api, runs = archive
    wanted = runs["run-b"][3][0]["trace_id"]
    missing = "f" * 32
    status, body = api.get(f"/api/traces?traceID={wanted}&traceID={missing}")
    assert status == 200
    assert [t["traceID"] for t in body["data"]] == [wanted]
    assert body["errors"] == [{"msg": "trace not found", "traceID": missing}]
