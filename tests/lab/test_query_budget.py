"""Query budgets (statements per traced request) in `lab report` and `lab compare`, both ways,
on exact synthetic runs; tests/lab/test_end_to_end.py does the same on real runs."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.targets import load_targets
from tests.lab.conftest import T0_US, CliResult
from tests.synthetic import DbCall, request_rows, trace_spans, write_meta, write_request_part
from tests.synthetic import write_span_part as write_spans

START_NS = T0_US * 1000
LOOKUP = 'SELECT "c"."id" FROM "inventory_category" "c" WHERE "c"."id" = {}'


def _run(
    root: Path,
    run_id: str,
    statements: int,
    *,
    seed: int = 1,
    requests: int = 20,
    route: str = "/inventory/",
) -> Path:
    """`route` requests that each run `statements` statements (the last 5 % one more)."""
    run_dir = root / run_id
    write_meta(run_dir)
    rng = random.Random(seed)
    latencies = [rng.lognormvariate(4.5, 0.4) for _ in range(400)]
    write_request_part(run_dir, request_rows("/inventory/", latencies, start_us=T0_US))
    spans = []
    for i in range(requests):
        extra = 1 if i >= requests * 0.95 else 0
        calls = [DbCall(LOOKUP.format(n), 0.2) for n in range(statements + extra)]
        spans += trace_spans(
            f"{run_id}-{i}",
            route=route,
            start_ns=START_NS + i * 10**9,
            network_ms=1,
            app_ms=5,
            calls=calls,
        )
    write_spans(run_dir, spans)
    return run_dir


@pytest.mark.parametrize(
    ("budget", "breached"),
    [
        pytest.param(5, True, id="p95-6-over-budget-5"),
        pytest.param(6, False, id="p95-6-at-budget-6-passes-although-max-is-7"),
    ],
)
def test_budget_checked_on_the_p95_of_statements_per_request(
    runs_root: Path, lab_cli: Callable[..., CliResult], budget: int, breached: bool
) -> None:
    # 20 requests: 19 of 6 statements, one of 7. p95 (nearest rank) = 6, max = 7.
    run_dir = _run(runs_root, "20260101-000000-load-b0d9", statements=6)
    # Latency targets and N+1 findings out of the way: this test is about the budget alone.
    relaxed = ("--set", "page_p95_ms=600000", "--set", "n_plus_one_min_repeats=1000")
    result = lab_cli(
        "report", run_dir.name, *relaxed, "--set", f"statement_budgets./inventory/={budget}"
    )
    digest = json.loads((run_dir / "report.json").read_text())
    (counts,) = digest["statements_per_request"]
    assert (counts["route"], counts["requests"], counts["median"]) == ("/inventory/", 20, 6)
    assert (counts["p95"], counts["max"], counts["budget"]) == (6, 7, budget)
    assert counts["breached"] is breached
    summary = (run_dir / "summary.md").read_text()
    if breached:
        assert result.code == 1, result.out
        assert (
            "CHECK FAILED: statements per request of /inventory/ is 6 at p95 (threshold 5, "
            "over 20 traced requests)"
        ) in result.out
        assert "statements per request of /inventory/: p95 6 > budget 5" in result.out
        assert "| /inventory/ | 20 | 6 | 6 | 5 | FAIL |" in summary
        assert digest["verdict"] == "FAIL"
    else:
        assert result.code == 0, result.out
        assert "CHECK FAILED" not in result.out
        assert "| /inventory/ | 20 | 6 | 6 | 6 | pass |" in summary
    assert "Query budgets" in (run_dir / "report.html").read_text()


def test_default_budget_applies_to_routes_without_their_own(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = _run(runs_root, "20260101-000000-load-def0", statements=12, route="/reports/")
    relaxed = ("--set", "page_p95_ms=600000", "--set", "n_plus_one_min_repeats=1000")
    result = lab_cli("report", run_dir.name, *relaxed, "--set", "statement_budgets.default=10")
    assert result.code == 1, result.out
    assert "statements per request of /reports/ is 12 at p95 (threshold 10" in result.out


def test_budgets_from_a_targets_file_and_bad_budgets(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[statement_budgets]\n"/inventory/" = 8\ndefault = 30\n')
    targets = load_targets(file=good)
    assert targets.statement_budget("/inventory/") == 8
    assert targets.statement_budget("/reports/") == 30
    for text in ('[statement_budgets]\n"/inventory/" = "many"\n', "[statement_budgets]\nx = 3\n"):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(LabError, match="statement budget"):
            load_targets(file=bad)


def test_compare_calls_6_to_56_statements_a_regression_whatever_latency_says(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    # Same latency distribution (seed) in both runs: latency is "not significant".
    base = _run(runs_root, "20260101-000000-load-0006", statements=6)
    worse = _run(runs_root, "20260101-010000-load-0056", statements=56)
    same = _run(runs_root, "20260101-020000-load-0007", statements=7)
    result = lab_cli("compare", base.name, worse.name, "--fail-on-regression", "10%")
    assert result.code == 1, result.out
    assert (
        f"{worse.name}: /inventory/ statements per request: REGRESSION: 6 -> 56 statements "
        "(max 7 -> 57)"
    ) in result.out
    assert "p95 verdict" in result.out
    assert "slower" not in result.out  # latency did not change; the statements did
    # One more statement per request is a change, not a regression.
    result = lab_cli("compare", base.name, same.name, "--fail-on-regression", "10%")
    assert result.code == 0, result.out
    assert "no significant regression" in result.out
    assert "/inventory/  20/20" in result.out


def test_compare_a_cached_route_whose_hit_ratio_changed_is_no_regression(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    # Hits cost 3 statements, misses 8: mostly hits in A, mostly misses in B.
    mostly_hits = _mixed_run(runs_root, "20260101-000000-load-4175", hits=8, misses=2)
    mostly_misses = _mixed_run(runs_root, "20260101-010000-load-4155", hits=2, misses=8)
    result = lab_cli("compare", mostly_hits.name, mostly_misses.name, "--fail-on-regression", "10%")
    assert result.code == 0, result.out
    (row,) = [line.split() for line in result.out.splitlines() if line.startswith("/inventory/ ")]
    assert row == ["/inventory/", "10/10", "3", "8", "8", "8", "+5"], result.out


def _mixed_run(root: Path, run_id: str, hits: int, misses: int) -> Path:
    run_dir = _run(root, run_id, statements=3, requests=hits)
    spans = []
    for i in range(misses):
        calls = [DbCall(LOOKUP.format(n), 0.2) for n in range(8)]
        spans += trace_spans(
            f"{run_id}-miss-{i}",
            route="/inventory/",
            start_ns=START_NS + (100 + i) * 10**9,
            network_ms=1,
            app_ms=5,
            calls=calls,
        )
    write_spans(run_dir, spans, seq=1)
    return run_dir
