"""Locust's own end-of-run checks (`locustfiles/_checks.py`) on records with known numbers:
the API target for `/api/` names and the page target for the rest, and the failure ratio at
exactly its target, per name and overall. Locust's exit code rests on these."""

from __future__ import annotations

from pathlib import Path

import pytest

from locustfiles._checks import CheckFailure, check_record
from locustfiles._targets import RunTargets
from tests.synthetic import request_rows, write_request_part

T0_US = 1_767_225_600_000_000
TARGETS = RunTargets()  # page 2000 ms, API 500 ms, failure ratio 1 %


def record(tmp_path: Path, names: dict[str, tuple[list[float], int]]) -> Path:
    rows = [
        row
        for name, (latencies, failures) in names.items()
        for row in request_rows(name, latencies, start_us=T0_US, failures=failures)
    ]
    write_request_part(tmp_path, rows[: len(rows) // 2], "w1")
    write_request_part(tmp_path, rows[len(rows) // 2 :], "w2")
    return tmp_path


def found(tmp_path: Path, targets: RunTargets = TARGETS) -> list[tuple[str, str, float, float]]:
    result = check_record(tmp_path, targets)
    return sorted((f.check, f.name, round(f.value, 4), f.threshold) for f in result.failures)


def test_a_run_within_every_target_passes(tmp_path: Path) -> None:
    record(tmp_path, {"/api/x/": ([499.0] * 50, 0), "/x/": ([1999.0] * 50, 0)})
    result = check_record(tmp_path, TARGETS)
    assert result.rows == 100
    assert result.passed
    assert result.failures == []


def test_api_names_are_held_to_the_api_target(tmp_path: Path) -> None:
    record(tmp_path, {"/api/x/": ([600.0] * 50, 0), "/x/": ([600.0] * 50, 0)})
    assert found(tmp_path) == [("API p95", "/api/x/", 600.0, 500.0)]


def test_p95_equal_to_the_target_fails(tmp_path: Path) -> None:
    record(tmp_path, {"/api/x/": ([500.0] * 50, 0), "/x/": ([2000.0] * 50, 0)})
    assert found(tmp_path) == [
        ("API p95", "/api/x/", 500.0, 500.0),
        ("page p95", "/x/", 2000.0, 2000.0),
    ]


def test_failure_ratio_of_exactly_the_target_fails_per_name(tmp_path: Path) -> None:
    record(tmp_path, {"/x/": ([10.0] * 100, 1), "/y/": ([10.0] * 900, 0)})  # overall 0.1 %
    assert found(tmp_path) == [("failure_ratio", "/x/", 0.01, 0.01)]


def test_failure_ratio_just_below_the_target_passes(tmp_path: Path) -> None:
    record(tmp_path, {"/x/": ([10.0] * 101, 1)})
    assert check_record(tmp_path, TARGETS).passed


def test_overall_failure_ratio(tmp_path: Path) -> None:
    record(tmp_path, {"/x/": ([10.0] * 100, 100), "/y/": ([10.0] * 100, 0)})
    assert found(tmp_path) == [
        ("failure_ratio", "/x/", 1.0, 0.01),
        ("failure_ratio", "all requests", 0.5, 0.01),
    ]


def test_an_empty_record_fails(tmp_path: Path) -> None:
    result = check_record(tmp_path, TARGETS)
    assert result.rows == 0
    assert result.failures == [CheckFailure("requests", "the run", 0.0, 1.0)]
    assert not result.passed


@pytest.mark.parametrize(
    ("failure", "line"),
    [
        (
            CheckFailure("failure_ratio", "/x/", 0.5, 0.01),
            "CHECK FAILED: failure ratio of /x/ is 50.00% (threshold 1.00%)",
        ),
        (
            CheckFailure("API p95", "/api/x/", 612.34, 500.0),
            "CHECK FAILED: API p95 of /api/x/ is 612.3 ms (threshold 500.0 ms)",
        ),
    ],
)
def test_failure_messages(failure: CheckFailure, line: str) -> None:
    assert failure.message() == line


def test_overall_failure_ratio_of_exactly_the_target_fails(tmp_path: Path) -> None:
    record(tmp_path, {"/x/": ([10.0] * 100, 1), "/y/": ([10.0] * 100, 1)})
    assert found(tmp_path) == [
        ("failure_ratio", "/x/", 0.01, 0.01),
        ("failure_ratio", "/y/", 0.01, 0.01),
        ("failure_ratio", "all requests", 0.01, 0.01),
    ]


def test_p95_is_the_95th_percentile_interpolated(tmp_path: Path) -> None:
    # 1..100 ms: p95 (linear) is 95.05 ms, the median 50.5 ms.
    record(tmp_path, {"/api/x/": ([float(ms) for ms in range(1, 101)], 0)})
    targets = RunTargets(api_p95_ms=95.0)
    assert found(tmp_path, targets) == [("API p95", "/api/x/", 95.05, 95.0)]
    assert check_record(tmp_path, RunTargets(api_p95_ms=95.1)).passed


def test_unreadable_parts_are_skipped_and_the_rest_judged(tmp_path: Path) -> None:
    record(tmp_path, {"/x/": ([10.0] * 100, 0)})
    (tmp_path / "requests" / "w3").mkdir()
    (tmp_path / "requests" / "w3" / "part-000000.parquet").write_bytes(b"torn write")
    result = check_record(tmp_path, TARGETS)
    assert result.rows == 100
    assert result.passed


def test_custom_api_prefix(tmp_path: Path) -> None:
    record(tmp_path, {"/v2/x/": ([600.0] * 20, 0), "/api/x/": ([600.0] * 20, 0)})
    targets = RunTargets(api_prefix="/v2/")
    assert found(tmp_path, targets) == [("API p95", "/v2/x/", 600.0, 500.0)]
