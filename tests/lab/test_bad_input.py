"""Bad input: one clear line on stderr, non-zero exit, inputs untouched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lab.conftest import T0_US, CliResult, tree_digest
from tests.synthetic import request_rows, write_meta, write_request_part, write_span_part


def _one_line(result: CliResult) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    return lines[0]


def _good_run(root: Path, run_id: str = "20260101-000000-load-bad0") -> Path:
    run_dir = root / run_id
    write_meta(run_dir)
    write_request_part(
        run_dir, request_rows("/dashboard/", [float(v) for v in range(1, 201)], start_us=T0_US)
    )
    return run_dir


def test_unknown_run(lab_cli: Callable[..., CliResult]) -> None:
    for command in (["report", "nope"], ["compare", "nope", "nada"], ["soak-verdict", "nope"]):
        result = lab_cli(*command)
        assert result.code == 2
        assert "unknown run 'nope'" in _one_line(result)


def test_partial_run_gets_a_partial_report(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = _good_run(runs_root)
    write_meta(run_dir, status="running", ended_at=None)  # the run crashed: never finished
    result = lab_cli("report", run_dir.name)
    assert result.code == 3
    assert result.out.startswith("PARTIAL")
    assert "PARTIAL" in (run_dir / "report.html").read_text()
    assert "PARTIAL run" in (run_dir / "summary.md").read_text()


def test_run_without_meta_is_partial(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    run_dir = _good_run(runs_root)
    (run_dir / "meta.json").unlink()
    result = lab_cli("report", run_dir.name)
    assert result.code == 3
    assert "meta.json missing" in result.out


def test_corrupted_parts_are_skipped_and_named(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = _good_run(runs_root)
    write_request_part(run_dir, request_rows("/sales/", [5.0] * 10, start_us=T0_US), "w9", 1)
    truncated = run_dir / "requests" / "w9" / "part-000002.parquet"
    truncated.write_bytes((run_dir / "requests" / "w9" / "part-000001.parquet").read_bytes()[:300])
    garbage = run_dir / "spans" / "part-1-000001.parquet"
    write_span_part(run_dir, [])
    garbage.write_bytes(b"PAR1 not parquet at all")
    before = tree_digest(run_dir)
    result = lab_cli("report", run_dir.name)
    assert result.code == 0, result.err
    assert f"skipped corrupted part {truncated}" in result.err
    assert f"skipped corrupted part {garbage}" in result.err
    assert "210 requests" in result.out
    after = tree_digest(run_dir)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs untouched
    assert set(after) - set(before) == {"report.html", "summary.md", "report.json"}
    assert str(truncated) in (run_dir / "report.html").read_text()


def test_part_missing_required_columns_is_skipped(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    run_dir = _good_run(runs_root)
    odd = run_dir / "requests" / "w3" / "part-000000.parquet"
    odd.parent.mkdir(parents=True)
    pq.write_table(pa.table({"something": [1, 2]}), odd)
    result = lab_cli("report", run_dir.name)
    assert "missing columns ts_start_us, name, response_time_us, failure" in result.err
    assert "200 requests" in result.out


def test_prometheus_unreachable(
    runs_root: Path, lab_cli: Callable[..., CliResult], free_port: int
) -> None:
    run_dir = _good_run(runs_root)
    before = tree_digest(run_dir)
    url = f"http://127.0.0.1:{free_port}"
    result = lab_cli("soak-verdict", run_dir.name, "--prometheus", url)
    assert result.code == 2
    assert "Prometheus unreachable" in _one_line(result)
    assert tree_digest(run_dir) == before
    # The report still gets written, and says what it could not fetch.
    result = lab_cli("report", run_dir.name, "--prometheus", url)
    assert result.code == 0
    assert "could not be fetched" in _one_line(result)
    assert "Prometheus unreachable" in (run_dir / "report.html").read_text()


def test_target_not_allowed_creates_nothing(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    result = lab_cli("run", "--profile", "smoke", "--target", "http://shop.example.com", "--local")
    assert result.code == 2
    assert "--allow-target shop.example.com" in _one_line(result)
    assert list(runs_root.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--profile", "marathon"], "unknown profile 'marathon'"),
        (["run", "--profile", "smoke", "--duration", "5 minutes"], "--duration '5 minutes'"),
        (["report", "X", "--set", "nonsense=1"], "unknown run"),
        (["compare", "only-one"], "unknown run"),
    ],
)
def test_other_bad_arguments(
    runs_root: Path, lab_cli: Callable[..., CliResult], args: list[str], message: str
) -> None:
    result = lab_cli(*args)
    assert result.code == 2
    assert message in _one_line(result)
    assert list(runs_root.iterdir()) == []


def test_bad_target_override(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    run_dir = _good_run(runs_root)
    result = lab_cli("report", run_dir.name, "--set", "api_p95_ms=fast")
    assert result.code == 2
    assert "api_p95_ms='fast' is not a float" in _one_line(result)
    assert not (run_dir / "report.html").exists()


def test_compare_needs_two_runs(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    run_dir = _good_run(runs_root)
    result = lab_cli("compare", run_dir.name)
    assert result.code == 2
    assert "at least two runs" in _one_line(result)


def test_compare_run_without_records(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    good = _good_run(runs_root)
    empty = runs_root / "20260101-000000-load-e000"
    write_meta(empty)
    result = lab_cli("compare", good.name, empty.name)
    assert result.code == 2
    assert "no readable per-request records" in _one_line(result)
