"""Assertions of `make e2e` on one finished Compose smoke run.

Usage: python tests/e2e/checks.py RUN_ID --prometheus http://127.0.0.1:PORT
Each check prints one line; the exit code is the number of failed checks (0 = all passed).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[2]
# Prometheus jobs (observability/prometheus/prometheus.yml) that must hold series.
EXPORTER_JOBS = ("app", "postgres", "pgbouncer", "redis")

# A psycopg2 span with a Locust span among its ancestors, within one trace.
LOCUST_ANCESTOR_SQL = """
WITH RECURSIVE spans AS (
    SELECT trace_id, span_id, parent_span_id, service_name, db_system, name
    FROM read_parquet(?)
),
chain(trace_id, start_span, ancestor) AS (
    SELECT trace_id, span_id, parent_span_id FROM spans
    WHERE db_system = 'postgresql'
    UNION ALL
    SELECT c.trace_id, c.start_span, s.parent_span_id
    FROM chain c JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.ancestor
    WHERE c.ancestor IS NOT NULL
)
SELECT count(DISTINCT c.trace_id)
FROM chain c JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.ancestor
WHERE s.service_name = 'locust'
"""


class CheckFailed(AssertionError):
    """One expectation of the e2e run did not hold."""


def prometheus_count(url: str, selector: str) -> int:
    query = urllib.parse.urlencode({"query": f"count({selector})"})
    if not url.startswith(("http://", "https://")):
        raise CheckFailed(f"--prometheus {url!r} must be an http(s) URL")
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as response:  # noqa: S310
        body = json.load(response)
    result = body["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def check_no_failures(run_dir: Path, _prom: str) -> str:
    parts = sorted((run_dir / "requests").glob("*/part-*.parquet"))
    if not parts:
        raise CheckFailed(f"no per-request record under {run_dir / 'requests'}")
    total, failed = duckdb.execute(
        "SELECT count(*), count(failure) FROM read_parquet(?)", [[str(p) for p in parts]]
    ).fetchone()
    if total == 0 or failed:
        raise CheckFailed(f"{failed} failed of {total} requests")
    return f"{total} requests in {len(parts)} record parts, 0 failed"


def check_locust_series(run_dir: Path, prom: str) -> str:
    count = prometheus_count(
        prom, f'last_over_time({{job="locust", run_id="{run_dir.name}"}}[30m])'
    )
    if count == 0:
        raise CheckFailed(f"Prometheus has no Locust series with run_id={run_dir.name}")
    return f"{count} Locust series with run_id"


def check_exporter_series(_run_dir: Path, prom: str) -> str:
    # Prometheus writes `up` and `scrape_*` even for a target it cannot reach: not evidence.
    counts = {
        job: prometheus_count(
            prom, f'last_over_time({{job="{job}", __name__!~"up|scrape_.*"}}[30m])'
        )
        for job in EXPORTER_JOBS
    }
    missing = [job for job, count in counts.items() if count == 0]
    if missing:
        raise CheckFailed(f"no series from job(s) {', '.join(missing)}; counts {counts}")
    return "series per job: " + ", ".join(f"{job}={count}" for job, count in counts.items())


def check_traces(run_dir: Path, _prom: str) -> str:
    parts = sorted((run_dir / "spans").glob("part-*.parquet"))
    if not parts:
        raise CheckFailed(f"no span parts under {run_dir / 'spans'}")
    files = [str(p) for p in parts]
    traces = duckdb.execute(LOCUST_ANCESTOR_SQL, [files]).fetchone()[0]
    if traces == 0:
        raise CheckFailed("no trace where a locust span is an ancestor of a psycopg2 span")
    return f"{traces} traces with locust -> ... -> psycopg2"


def check_report(run_dir: Path, _prom: str) -> str:
    wanted = [
        run_dir / "meta.json",
        run_dir / "report.html",
        run_dir / "summary.md",
        run_dir / "locust" / "report.html",
    ]
    missing = [str(p.relative_to(run_dir)) for p in wanted if not p.is_file()]
    if missing:
        raise CheckFailed(f"missing in the run folder: {', '.join(missing)}")
    return "meta.json, report.html, summary.md and locust/report.html present"


CHECKS: dict[str, Callable[[Path, str], str]] = {
    "zero failed requests": check_no_failures,
    "Locust series for the run id": check_locust_series,
    "app and exporter series": check_exporter_series,
    "locust span ancestor of a psycopg2 span": check_traces,
    "run report": check_report,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_id")
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--runs-dir", type=Path, default=REPO_ROOT / "runs")
    args = parser.parse_args(argv)
    run_dir = args.runs_dir / args.run_id
    failed = 0
    for title, check in CHECKS.items():
        try:
            print(f"[e2e] PASS {title}: {check(run_dir, args.prometheus)}")
        except (CheckFailed, OSError, duckdb.Error) as exc:
            failed += 1
            print(f"[e2e] FAIL {title}: {exc}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
