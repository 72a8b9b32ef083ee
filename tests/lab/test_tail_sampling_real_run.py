"""Tail sampling on a real run: Locust (ratio 0.1, tail on, the defaults) against the app
under gunicorn, spans through the real trace archive (tail on, its default).

Both ways in one run: every one of the ten slowest requests of each name and every failed
request (a check failure on an HTTP 200, which only Locust's request event knows) keeps its
trace, while a fast request's trace is archived exactly when its trace id is in the ratio,
so the archive holds far fewer traces than there were tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.rundata import RunData, open_run
from lab.trace_coverage import coverage
from lab.trace_sampling import MIN_REQUESTS_FOR_QUANTILE, in_ratio, ratio_bound
from tests.harness.live_app import LiveApp
from tests.lab.test_end_to_end import archive_url  # noqa: F401 - a fixture
from tests.locust.conftest import (  # noqa: F401 - live_apps, runs_dir, shops are fixtures
    RELAXED_TARGETS,
    live_apps,
    run_locust,
    runs_dir,
    shops,
    wait_for,
)

pytestmark = [pytest.mark.slow]

RUN_ID = "20260101-000000-smoke-7a11"
RATIO = 0.1
FAST = "/api/dashboard/stats/"
BROKEN = "/api/customers/ (planted check failure)"
# Many short tasks, so each name has far more requests than the ten slowest.
LOCUSTFILE = f'''
from __future__ import annotations

import locust  # noqa: F401

# isort: split
from locust import constant, task

from locustfiles import _plugin  # noqa: F401
from locustfiles._shapes import LabShape  # noqa: F401
from locustfiles.shop_users import APIUser


class TailProbeUser(APIUser):
    wait_time = constant(0.005)

    def fast(self) -> None:
        self.api_get("{FAST}", "{FAST}", "tenant_id")

    def broken(self) -> None:
        self.api_get("/api/customers/", "{BROKEN}", "count", validate=lambda d: "planted")

    tasks = {{fast: 30, broken: 1}}
'''


def _probe_run(
    live_apps: Callable[..., LiveApp],  # noqa: F811
    runs_dir: Path,  # noqa: F811
    archive_url: str,  # noqa: F811
    tmp_path: Path,
    tail: str,
) -> tuple[list[dict], set[str], RunData]:
    """Run the probe users; returns the record, the archived trace ids and the run's data."""
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": archive_url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    app = live_apps(**otlp)
    locustfile = tmp_path / "tail_probe.py"
    locustfile.write_text(LOCUSTFILE)
    run = run_locust(
        app.url,
        runs_dir,
        RUN_ID,
        env={
            **otlp,
            "LAB_SCENARIO": "TailProbeUser",
            "LAB_USERS": "4",
            "LAB_SPAWN_RATE": "4",
            "LAB_DURATION": "25s",
            "LAB_TRACE_SAMPLE_RATIO": str(RATIO),
            "LAB_TRACE_TAIL": tail,
        },
        extra=("-f", str(locustfile)),
        targets={**RELAXED_TARGETS, "failure_ratio_max": 1.0},
    )
    assert run.returncode in (0, 1), run.output[-3000:]
    record = run.record().to_pylist()
    app.stop()  # flushes the app's span processors

    def archived() -> set[str]:
        with_spans = open_run(runs_dir / RUN_ID, warn=False)
        return {
            r[0] for r in with_spans.con.execute("SELECT DISTINCT trace_id FROM spans").fetchall()
        }

    sampled_failures = {row["trace_id"] for row in record if row["failure"] and row["trace_id"]}
    wait_for(lambda: sampled_failures <= archived(), 30, "the failed requests' traces")
    time.sleep(1.5)  # the archive's last flush of released spans
    return record, archived(), open_run(runs_dir / RUN_ID, warn=False)


def test_tail_sampling_keeps_the_slowest_and_failed_traces_and_the_ratio_of_the_rest(
    live_apps: Callable[..., LiveApp],  # noqa: F811
    runs_dir: Path,  # noqa: F811
    archive_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    record, kept, data = _probe_run(live_apps, runs_dir, archive_url, tmp_path, tail="1")
    failed = {row["trace_id"] for row in record if row["failure"]}
    assert failed, "the planted check failure did not happen"

    # Every one of the ten slowest requests of each name has its trace.
    slowest = coverage(data.con)
    assert slowest.slowest >= 20, slowest
    assert slowest.traced == slowest.slowest, slowest.line()
    # Every failed request's trace is kept (a check failure on an HTTP 200).
    assert all(row["status"] == 200 for row in record if row["failure"])
    assert failed <= kept

    # Fast tasks (one request, below its name's median, past the warm-up): archived exactly
    # when the trace id is in the ratio. The rule errs only towards keeping (a request that
    # was in the running top ten or above the running p90 when it happened).
    fast = [row for row in record if row["name"] == FAST and not row["failure"]]
    assert len(fast) >= 300, len(fast)
    median = sorted(row["response_time_us"] for row in fast)[len(fast) // 2]
    bound = ratio_bound(RATIO)
    in_the_ratio, outside = [], []
    for index, row in enumerate(sorted(fast, key=lambda r: r["ts_start_us"])):
        if index < MIN_REQUESTS_FOR_QUANTILE or row["response_time_us"] >= median:
            continue
        trace = row["trace_id"]
        (in_the_ratio if in_ratio(int(trace[16:], 16), bound) else outside).append(trace)
    assert in_the_ratio
    assert outside
    assert all(trace in kept for trace in in_the_ratio)
    leaked = sum(trace in kept for trace in outside) / len(outside)
    assert leaked <= 0.05, leaked
    # Far fewer traces than tasks: the ratio is honoured overall.
    tasks = {row["trace_id"] for row in record}
    assert len(kept & tasks) <= 0.45 * len(tasks), (len(kept & tasks), len(tasks))


def test_head_sampling_misses_most_of_the_slowest_requests(
    live_apps: Callable[..., LiveApp],  # noqa: F811
    runs_dir: Path,  # noqa: F811
    archive_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The same run with tail sampling off in Locust: the report's line says what is missing."""
    record, kept, data = _probe_run(live_apps, runs_dir, archive_url, tmp_path, tail="0")
    slowest = coverage(data.con)
    assert slowest.slowest >= 20, slowest
    assert slowest.traced <= slowest.slowest // 2, slowest.line()
    # Head sampling: the record names a trace only for the sampled tenth, all archived.
    traced = {row["trace_id"] for row in record if row["trace_id"]}
    assert 0 < len(traced) <= 0.25 * len(record)
    assert traced <= kept
