"""The trace archive as a real process, fed by the real OpenTelemetry SDK and OTLP/HTTP exporter."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from observability.trace_archive.rows import folder_for_run
from tests.harness.environment import REPO_ROOT
from tests.observability.archive_process import ArchiveProcess, read_spans

SENDER_PROCESSES = 3
SENDER_THREADS = 3
TRACES_PER_THREAD = 1400  # 3 x 3 x 1400 traces x 4 spans = 50,400 spans


def run_senders(
    archive: ArchiveProcess, tmp_path: Path, processes: int, threads: int, traces: int
) -> list[dict[str, str | None]]:
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}"}
    senders = []
    for index in range(processes):
        out = tmp_path / f"sent-{index}.jsonl"
        command = [
            sys.executable,
            "-m",
            "tests.observability.otlp_sender",
            "--endpoint",
            archive.traces_url,
            "--traces",
            str(traces),
            "--threads",
            str(threads),
            "--out",
            str(out),
        ]
        if index % 2:
            command.append("--gzip")  # one encoding path the Python exporter offers
        senders.append((subprocess.Popen(command, env=env, cwd=REPO_ROOT), out))
    sent: list[dict[str, str | None]] = []
    for process, out in senders:
        assert process.wait(timeout=300) == 0, "a sender could not flush its spans"
        sent.extend(json.loads(line) for line in out.read_text().splitlines())
    return sent


def wait_for_written(archive: ArchiveProcess, expected: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if archive.metrics()["trace_archive_spans_written_total"] >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"archive wrote {archive.metrics()} after {timeout}s, expected {expected}")


@pytest.mark.slow
def test_burst_from_several_senders_is_written_completely(
    archive: ArchiveProcess, tmp_path: Path
) -> None:
    sent = run_senders(archive, tmp_path, SENDER_PROCESSES, SENDER_THREADS, TRACES_PER_THREAD)
    assert len(sent) == SENDER_PROCESSES * SENDER_THREADS * TRACES_PER_THREAD * 4

    wait_for_written(archive, len(sent))
    metrics = archive.metrics()
    assert metrics["trace_archive_spans_dropped_total"] == 0
    assert metrics["trace_archive_spans_received_total"] == len(sent)
    assert archive.stop() == 0

    stored = read_spans(archive.runs_dir)
    stored_by_id = {(row["trace_id"], row["span_id"]): row for row in stored}
    assert len(stored_by_id) == len(stored) == len(sent)
    for record in sent:
        row = stored_by_id[(record["trace_id"], record["span_id"])]
        assert row["parent_span_id"] == record["parent_span_id"]
        assert row["run_id"] == record["run_id"]
        assert row["folder"] == (record["run_id"] or "_unassigned")
    assert {row["folder"] for row in stored} == {"run-a", "run-b", "_unassigned"}
    # Every parent link resolves inside its own trace.
    for row in stored:
        if row["parent_span_id"] is not None:
            assert (row["trace_id"], row["parent_span_id"]) in stored_by_id
    server = next(row for row in stored if row["kind"] == "SERVER")
    assert server["http_route"] == "/inventory/"
    assert server["http_status"] == 200
    assert server["service_name"] == "locust"
    db = next(row for row in stored if row["db_system"] == "postgresql")
    assert db["db_statement"] == "SELECT 1"
    assert json.loads(db["attributes"])["db.system"] == "postgresql"


def test_json_encoding_follows_the_otlp_json_mapping(archive: ArchiveProcess) -> None:
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "jewelry-app"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "test"},
                        "spans": [
                            {
                                # Upper-case hex: the spec says ids are case-insensitive hex.
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "parentSpanId": "AAE19B7EC3C1B173",
                                "name": "GET /inventory/<int:pk>/",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [
                                    {"key": "lab.run_id", "value": {"stringValue": "run-json"}},
                                    {"key": "http.route", "value": {"stringValue": "/x/"}},
                                    {
                                        "key": "http.response.status_code",
                                        "value": {"intValue": "503"},
                                    },
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                    {"key": "flag", "value": {"boolValue": True}},
                                ],
                                "status": {"code": 2, "message": "boom"},
                                "someFutureField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = requests.post(archive.traces_url, json=body, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {}

    assert archive.stop() == 0
    (row,) = read_spans(archive.runs_dir)
    assert row["folder"] == "run-json"
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert row["parent_span_id"] == "aae19b7ec3c1b173"
    assert row["kind"] == "SERVER"
    assert row["status_code"] == "ERROR"
    assert row["start_unix_ns"] == 1544712660000000000
    assert row["end_unix_ns"] == 1544712661000000000
    assert row["http_route"] == "/x/"
    assert row["http_status"] == 503
    assert json.loads(row["attributes"]) == {
        "lab.run_id": "run-json",
        "http.route": "/x/",
        "http.response.status_code": 503,
        "ratio": 0.5,
        "flag": True,
    }


class ToJsonExporter(SpanExporter):
    """Encodes SDK spans as the OTLP/JSON a non-Python sender would post."""

    def __init__(self, url: str) -> None:
        self.url = url

    def export(self, spans: object) -> SpanExportResult:
        document = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
        for resource_spans in document["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in span:
                            span[key] = base64.b64decode(span[key]).hex()
        response = requests.post(self.url, json=document, timeout=10)
        return SpanExportResult.SUCCESS if response.ok else SpanExportResult.FAILURE


def test_json_from_sdk_spans_keeps_ids_kinds_and_parents(archive: ArchiveProcess) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "jewelry-app"}))
    provider.add_span_processor(SimpleSpanProcessor(ToJsonExporter(archive.traces_url)))
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent,
        tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child,
    ):
        child.set_status(Status(StatusCode.ERROR))
    provider.shutdown()
    assert archive.stop() == 0
    rows = {row["name"]: row for row in read_spans(archive.runs_dir)}
    assert rows["parent"]["span_id"] == f"{parent.get_span_context().span_id:016x}"
    assert rows["child"]["parent_span_id"] == rows["parent"]["span_id"]
    assert rows["child"]["trace_id"] == f"{parent.get_span_context().trace_id:032x}"
    assert (rows["parent"]["kind"], rows["child"]["kind"]) == ("SERVER", "CLIENT")
    assert rows["child"]["status_code"] == "ERROR"
    assert rows["child"]["folder"] == "_unassigned"


def _protobuf_request(spans: int, run_id: str) -> bytes:
    """An ExportTraceServiceRequest of `spans` spans, encoded by the exporter's own encoder."""
    recorded = []

    class Keep(SpanExporter):
        def export(self, batch: object) -> SpanExportResult:
            recorded.extend(batch)  # type: ignore[arg-type]
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Keep()))
    tracer = provider.get_tracer("test")
    for _ in range(spans):
        with tracer.start_as_current_span("s", attributes={"lab.run_id": run_id}):
            pass
    return encode_spans(recorded).SerializeToString()


def post_protobuf(archive: ArchiveProcess, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        archive.traces_url,
        data=body,
        headers={"Content-Type": "application/x-protobuf", **headers},
        timeout=10,
    )


def test_full_queue_answers_retryable_503_and_counts_dropped_spans(
    archive_factory: Callable[..., ArchiveProcess],
) -> None:
    archive = archive_factory("--max-queue", "100", "--flush-seconds", "60")
    body = _protobuf_request(80, "run-q")
    assert post_protobuf(archive, body).status_code == 200
    refused = post_protobuf(archive, body)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    metrics = archive.metrics()
    assert metrics["trace_archive_spans_dropped_total"] == 80
    assert metrics["trace_archive_requests_rejected_total"] == 1
    assert metrics["trace_archive_queue_spans"] == 80
    # SIGTERM writes what was accepted even though the flush interval never came.
    assert archive.stop() == 0
    assert len(read_spans(archive.runs_dir)) == 80


def test_gzip_bad_payloads_and_health(archive: ArchiveProcess) -> None:
    body = _protobuf_request(3, "run-g")
    assert post_protobuf(archive, gzip.compress(body), **{"Content-Encoding": "gzip"}).ok
    assert post_protobuf(archive, b"\xff\xfe not protobuf").status_code == 400
    text = requests.post(
        archive.traces_url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=10
    )
    assert text.status_code == 415
    assert (
        requests.post(
            archive.traces_url,
            data="{not json",
            timeout=10,
            headers={"Content-Type": "application/json"},
        ).status_code
        == 400
    )
    assert requests.get(f"{archive.url}/healthz", timeout=10).json() == {"status": "ok"}
    assert archive.metrics()["trace_archive_bad_requests_total"] == 3
    assert archive.stop() == 0
    assert len(read_spans(archive.runs_dir)) == 3


def test_run_ids_that_could_escape_the_runs_folder_go_to_unassigned() -> None:
    assert folder_for_run("20260101-120000-load-ab12") == "20260101-120000-load-ab12"
    for hostile in ("../etc", "/abs", ".hidden", "a/b", "", None, "x" * 200):
        assert folder_for_run(hostile) == "_unassigned"


@pytest.mark.slow
def test_kill_9_mid_stream_keeps_every_written_part_readable(
    archive_factory: Callable[..., ArchiveProcess], tmp_path: Path
) -> None:
    archive = archive_factory("--flush-seconds", "0.1")
    body = _protobuf_request(200, "run-k")
    written_before_kill = 0
    for _ in range(300):
        assert post_protobuf(archive, body).status_code == 200
        if archive.metrics()["trace_archive_parts_written_total"] >= 5:
            written_before_kill = int(archive.metrics()["trace_archive_spans_written_total"])
            break
    assert written_before_kill > 0
    for _ in range(5):  # more spans in flight, not yet flushed
        post_protobuf(archive, body)
    archive.stop(signal.SIGKILL)

    parts = sorted((archive.runs_dir / "run-k" / "spans").glob("part-*.parquet"))
    rows_on_disk = sum(pq.read_table(part).num_rows for part in parts)  # every part reads
    assert rows_on_disk >= written_before_kill

    # A restarted archive appends to the same folder.
    again = archive_factory()
    assert post_protobuf(again, body).status_code == 200
    assert again.stop() == 0
    assert len(read_spans(archive.runs_dir)) == rows_on_disk + 200


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("LAB_ARCHIVE_MAX_QUEUE", "lots", "LAB_ARCHIVE_MAX_QUEUE='lots' is not a number"),
        ("LAB_TRACE_TAIL", "maybe", "LAB_TRACE_TAIL='maybe' must be 1 or 0"),
        (
            "LAB_ARCHIVE_TAIL_HOLD_SECONDS",
            "0",
            "LAB_ARCHIVE_TAIL_HOLD_SECONDS='0' must be between 0.1 and 3600",
        ),
    ],
)
def test_bad_setting_exits_with_one_line(
    tmp_path: Path, name: str, value: str, complaint: str
) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}", name: value}
    result = subprocess.run(
        [sys.executable, "-m", "observability.trace_archive", "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"trace-archive: {complaint}; fix the setting and start again"
    ]
    assert list(tmp_path.iterdir()) == []
