"""The report says how many spans were lost and marks trace sections partial; fault windows."""

from __future__ import annotations

import json
from pathlib import Path

from lab.report import build, summary_json, write
from lab.run_events import FAULT_WINDOW
from tests.synthetic import (
    DbCall,
    hex_id,
    request_rows,
    trace_spans,
    write_meta,
    write_request_part,
    write_span_part,
)

START_US = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00:00Z
TRACES = 20


def _run(tmp_path: Path, *, archived: int, locust_dropped: int = 0) -> Path:
    """TRACES sampled requests; the archive holds the spans of the first `archived` of them."""
    run_dir = tmp_path / "20260101-000000-load-7a7a"
    write_meta(run_dir)
    keys = [f"k{i}" for i in range(TRACES)]
    trace_ids = [hex_id("trace" + key, 32) for key in keys]
    write_request_part(
        run_dir,
        request_rows(
            "/dashboard/",
            [50.0] * TRACES,
            start_us=START_US,
            spacing_us=1_000_000,
            trace_ids=trace_ids,
        ),
    )
    spans = [
        span
        for i, key in enumerate(keys[:archived])
        for span in trace_spans(
            key,
            route="/dashboard/",
            start_ns=(START_US + i * 1_000_000) * 1000,
            network_ms=2,
            app_ms=10,
            calls=[DbCall("SELECT 1", 1.0)],
        )
    ]
    if spans:
        write_span_part(run_dir, spans)
    if locust_dropped:
        event = {
            "ts": "2026-01-01T00:00:30Z",
            "kind": "spans_dropped",
            "detail": {"count": locust_dropped},
        }
        with (run_dir / "events.jsonl").open("a") as handle:
            handle.write(json.dumps(event) + "\n")
    return run_dir


def test_a_complete_archive_is_not_marked_partial(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, archived=TRACES)
    report = build(run_dir)
    assert report.trace_loss is not None
    assert (report.trace_loss.sampled_traces, report.trace_loss.traces_missing) == (TRACES, 0)
    assert not report.trace_loss.partial
    write(report, run_dir)
    assert "Traces partial" not in (run_dir / "report.html").read_text()
    assert "Traces partial" not in (run_dir / "summary.md").read_text()


def test_missing_traces_and_dropped_spans_are_counted_and_marked(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, archived=TRACES - 6, locust_dropped=17)
    report = build(run_dir)
    loss = report.trace_loss
    assert loss is not None
    assert (loss.sampled_traces, loss.traces_missing, loss.locust_spans_dropped) == (TRACES, 6, 17)
    assert loss.app_spans_dropped is None  # no Prometheus given: not claimed to be 0
    assert loss.partial
    write(report, run_dir)
    html = (run_dir / "report.html").read_text()
    assert "Traces partial" in html
    assert "6 of 20 sampled traces" in html
    assert "spans dropped by Locust 17" in (run_dir / "summary.md").read_text()
    digest = summary_json(report)["trace_loss"]
    assert digest["traces_missing"] == 6
    assert digest["partial"] is True


def test_dropped_spans_alone_mark_the_traces_partial(tmp_path: Path) -> None:
    report = build(_run(tmp_path, archived=TRACES, locust_dropped=3))
    assert report.trace_loss is not None
    assert report.trace_loss.partial


def test_fault_windows_are_shaded_on_the_charts_and_listed(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, archived=TRACES)
    first_s = START_US / 1e6
    event = {
        "kind": FAULT_WINDOW,
        "detail": {"fault": "redis stopped", "started_at": first_s + 5, "ended_at": first_s + 9.5},
    }
    (run_dir / "events.jsonl").write_text(json.dumps(event) + "\n{torn line")
    report = build(run_dir)
    assert report.fault_bands == [(5.0, 9.5, "redis stopped")]
    write(report, run_dir)
    html = (run_dir / "report.html").read_text()
    assert html.count("<title>redis stopped</title>") == 2  # both over-time charts
    assert "redis stopped: from 5.0 s to 9.5 s" in (run_dir / "summary.md").read_text()
    assert summary_json(report)["faults"][0]["seconds"] == 4.5


def test_a_run_without_faults_has_no_bands(tmp_path: Path) -> None:
    run_dir = _run(tmp_path, archived=TRACES)
    report = build(run_dir)
    write(report, run_dir)
    assert report.faults == []
    assert (
        "<rect"
        not in (run_dir / "report.html").read_text().split("<h2>Over time</h2>")[1].split("<h2>")[0]
    )


def test_failures_are_listed_by_reason_with_when_they_happened(tmp_path: Path) -> None:
    run_dir = tmp_path / "20260101-000000-load-7b7b"
    write_meta(run_dir)
    rows = request_rows("/dashboard/", [50.0] * 10, start_us=START_US, spacing_us=1_000_000)
    for row in rows[3:6]:
        row["failure"] = "ContentError: HTTP 503 (database unavailable (OperationalError))"
    rows[8]["failure"] = "SignedOut: sent to the sign-in page: signing in again"
    write_request_part(run_dir, rows)
    report = build(run_dir)
    assert [(f.reason[:10], f.count, f.first_s, f.last_s) for f in report.failure_reasons] == [
        ("ContentErr", 3, 3.0, 5.0),
        ("SignedOut:", 1, 8.0, 8.0),
    ]
    write(report, run_dir)
    assert "database unavailable (OperationalError)" in (run_dir / "report.html").read_text()
    assert "| `SignedOut: sent to the sign-in page" in (run_dir / "summary.md").read_text()


def test_a_run_without_failures_lists_no_reasons(tmp_path: Path) -> None:
    report = build(_run(tmp_path, archived=TRACES))
    assert report.failure_reasons == []
    write(report, tmp_path / "20260101-000000-load-7a7a")
    assert (
        "Failures by reason"
        not in (tmp_path / "20260101-000000-load-7a7a" / "report.html").read_text()
    )
