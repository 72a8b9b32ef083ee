"""Which load-generator events make `lab report` call a run untrustworthy (exit 3), which not.

The kinds are written out here, not imported: a test that read the set it checks would agree
with any change to it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.health import assess
from tests.lab.conftest import T0_US, CliResult
from tests.synthetic import request_rows, write_meta, write_request_part

# Kinds written by locustfiles/_plugin.py that mean the generator, not the app, may have
# limited the numbers, or that the per-request record misses requests.
UNTRUSTWORTHY = {
    "worker_lost": {"worker": "w2"},
    "cpu_warning": {"worker": "w1", "cpu_percent": 97.5},
    "generator_saturated": {
        "worker": "w1", "cpu_peak_pct": 97.5, "above_s": 21.0, "threshold_pct": 80.0,
        "sustained_s": 20.0,
    },
    "record_incomplete": {"recorded": 90, "locust_requests": 100},
    "record_part_lost": {
        "run_id": "x", "worker": "w2", "seq": 3, "rows": 40, "received_bytes": 1024,
        "size": 4096, "reason": "upload not finished",
    },
    "load_off_plan": {
        "direction": "over", "users": 28, "planned_users": 20,
        "from": "2026-01-01T00:00:10+00:00", "to": "2026-01-01T00:00:40+00:00", "seconds": 30,
    },
    "untrustworthy": {"reasons": ["worker_lost"]},
}  # fmt: skip
# The reason `lab report` gives for each: a count, or one line per lost worker / off-plan window
# / saturated generator.
REASON = {
    "generator_saturated": (
        "load generator w1 above 80.0 % CPU for 21.0 s (peak 97.5 %) from "
        "2026-01-01T00:00:01.000+00:00: its timings may be its own"
    ),
    "worker_lost": "worker w2 lost at 2026-01-01T00:00:01.000+00:00",
    "load_off_plan": (
        "load over plan: 28 users instead of 20 from 2026-01-01T00:00:10+00:00 "
        "to 2026-01-01T00:00:40+00:00 (30 s)"
    ),
}
# Kinds that describe a run without casting doubt on its numbers.
BENIGN = {
    "run_started": {"run_id": "x", "profile": "load", "role": "local", "stages": []},
    "check_failed": {"check": "API p95", "name": "/api/x/", "value": 900.0, "threshold": 500.0},
    "breaking_point": {"reason": "p95", "broke_at_users": 40, "held_users": 30, "held_rps": 9.5},
    "spans_dropped": {"count": 12},
    "run_finished": {"requests": 200, "failures": 0, "record_rows": 200, "exit_code": 0},
    "abort_armed": {"window_s": 60.0, "every_s": 10.0, "consecutive": 2, "warmup_s": 60.0},
}


def healthy_run(root: Path, run_id: str) -> Path:
    """A completed run whose every request meets every target."""
    run_dir = root / run_id
    write_meta(run_dir)
    write_request_part(run_dir, request_rows("/sales/", [20.0] * 200, start_us=T0_US))
    return run_dir


def write_events(run_dir: Path, kinds: dict[str, dict]) -> None:
    lines = [
        json.dumps({"ts": f"2026-01-01T00:00:{i:02d}.000+00:00", "kind": kind, "detail": detail})
        for i, (kind, detail) in enumerate(kinds.items())
    ]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")


def test_a_healthy_run_without_events_passes(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = healthy_run(runs_root, "20260101-000000-load-0000")
    result = lab_cli("report", run_dir.name)
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("PASS")


@pytest.mark.parametrize("kind", sorted(UNTRUSTWORTHY))
def test_each_untrustworthy_kind_alone_gives_exit_3(
    kind: str, runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = healthy_run(runs_root, "20260101-000000-load-0001")
    write_events(run_dir, {"run_started": BENIGN["run_started"], kind: UNTRUSTWORTHY[kind]})
    result = lab_cli("report", run_dir.name)
    assert result.code == 3, result.out + result.err
    assert result.out.startswith("UNTRUSTWORTHY")
    reason = REASON.get(kind, f"1 x {kind}")
    assert reason in result.out
    digest = json.loads((run_dir / "report.json").read_text())
    assert digest["verdict"] == "UNTRUSTWORTHY"
    assert digest["untrustworthy"] == [reason]


def test_benign_events_only_pass(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    run_dir = healthy_run(runs_root, "20260101-000000-load-0002")
    write_events(run_dir, BENIGN)
    result = lab_cli("report", run_dir.name)
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("PASS")
    digest = json.loads((run_dir / "report.json").read_text())
    assert digest["untrustworthy"] == []


def test_repeated_events_are_counted(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    run_dir = healthy_run(runs_root, "20260101-000000-load-0003")
    line = json.dumps({"ts": "t", "kind": "worker_lost", "detail": {"worker": "w"}})
    (run_dir / "events.jsonl").write_text(f"{line}\n{line}\n\n{line}\n")
    result = lab_cli("report", run_dir.name)
    assert result.code == 3
    assert result.out.count("worker w lost at t") == 3, result.out


def test_events_file_is_read_line_by_line_past_bad_lines(runs_root: Path) -> None:
    run_dir = healthy_run(runs_root, "20260101-000000-load-0004")
    lines = [
        json.dumps({"ts": "t", "kind": "cpu_warning", "detail": {"worker": "w1"}}),
        "{torn",  # a crash mid-write, then the run went on
        "",
        json.dumps({"ts": "t", "kind": "worker_lost", "detail": "x" * 300}),
        "not json",
        json.dumps({"ts": "t", "detail": "no kind"}),
        json.dumps({"ts": "t", "kind": "cpu_warning", "detail": {"worker": "w2"}}),
        json.dumps({"ts": "t", "kind": "spans_dropped"}),  # no detail: an empty example
    ]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    health = assess(run_dir, {"status": "completed"}, request_parts=1)
    assert health.event_counts == Counter({"cpu_warning": 2, "worker_lost": 1, "spans_dropped": 1})
    assert health.bad_event_lines == 3
    assert health.event_examples == {
        "cpu_warning": "{'worker': 'w1'}",
        "worker_lost": "x" * 200,
        "spans_dropped": "",
    }
    assert health.untrustworthy_reasons == ["2 x cpu_warning", "worker ? lost at t"]


def test_a_lost_worker_line_counts_what_it_reported_against_what_it_recorded(
    runs_root: Path,
) -> None:
    # Two parts for w2 (rows add up), one for w1 (not w2's), and a damaged part of w2 that is
    # skipped rather than failing the assessment.
    run_dir = runs_root / "20260101-000000-load-0005"
    write_meta(run_dir)
    write_request_part(run_dir, request_rows("/a/", [5.0] * 30, start_us=T0_US), "w2", 0)
    write_request_part(run_dir, request_rows("/a/", [5.0] * 12, start_us=T0_US), "w2", 1)
    write_request_part(run_dir, request_rows("/a/", [5.0] * 50, start_us=T0_US), "w1", 0)
    (run_dir / "requests" / "w2" / "part-000002.parquet").write_bytes(b"not parquet")
    events = {
        "run_started": BENIGN["run_started"],
        "worker_lost": {"worker": "w2", "reported_requests": 45},
    }
    write_events(run_dir, events)
    health = assess(run_dir, {"status": "completed"}, request_parts=4)
    assert health.lost_workers == [
        "worker w2 lost at 2026-01-01T00:00:01.000+00:00: it reported 45 requests, "
        "42 are in the record, 3 reported but not recorded"
    ]
    # A worker that recorded more than it reported (its last report was lost with it): no
    # negative count.
    write_events(run_dir, {"worker_lost": {"worker": "w1", "reported_requests": 40}})
    (line,) = assess(run_dir, {"status": "completed"}, request_parts=4).lost_workers
    assert line.endswith(
        "it reported 40 requests, 50 are in the record, 0 reported but not recorded"
    )
    # A worker that left no part at all.
    write_events(run_dir, {"worker_lost": {"worker": "w9", "reported_requests": 7}})
    (line,) = assess(run_dir, {"status": "completed"}, request_parts=4).lost_workers
    assert line.endswith("it reported 7 requests, 0 are in the record, 7 reported but not recorded")
    # A torn detail (not a dict) still names the loss.
    write_events(run_dir, {"worker_lost": "garbled"})
    assert assess(run_dir, {"status": "completed"}, request_parts=4).lost_workers == [
        "worker ? lost at 2026-01-01T00:00:00.000+00:00"
    ]


def test_a_run_that_is_not_completed_is_partial_with_its_reason(runs_root: Path) -> None:
    run_dir = healthy_run(runs_root, "20260101-000000-load-0006")
    complete = assess(run_dir, {"status": "completed", "locust_exit_code": 1}, request_parts=1)
    assert complete.partial_reasons == []
    assert complete.trustworthy
    assert complete.locust_exit_code == 1
    aborted = assess(run_dir, {"status": "aborted"}, request_parts=1)
    assert aborted.partial_reasons == [
        "run aborted (the load generator or Compose died, or it ended short)"
    ]
    assert not aborted.trustworthy
    unknown = assess(run_dir, {"status": "odd"}, request_parts=0)
    assert unknown.partial_reasons == ["status 'odd'", "no per-request records"]
    assert assess(run_dir, None, request_parts=1).partial_reasons == [
        "meta.json missing or unreadable"
    ]
    assert (
        assess(run_dir, {"status": "completed", "locust_exit_code": "1"}, 1).locust_exit_code
        is None
    )
