"""Open model (profile `arrival`): schedule lag, corrected latency and late arrivals, both ways.

Two real runs (gunicorn + PgBouncer + PostgreSQL + Redis, a real Locust):
- a clean app served by enough users of a master and two workers: the master splits the
  arrivals, every one starts on time, no `arrivals_late`, and corrected latency stays far
  below the planted pause;
- the app with LAB_FAULTS=stall (1.5 s pause every 4 s) served by 2 users at 10 tasks/s: the
  users are stuck in each pause, arrivals pile up (`arrivals_late`, the run untrustworthy),
  and each request whose intended start fell in a pause has a corrected latency of at least
  the rest of that pause: the stall is in the corrected figures, by construction.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lab.arrival_plan import ArrivalPlan, RateStep, check_fits, share
from lab.arrival_steps import read_counts
from lab.contract import EXIT_UNTRUSTWORTHY
from lab.report import build
from tests.harness.processes import free_port
from tests.locust.conftest import (
    RELAXED_TARGETS,
    LocustRun,
    locust_command,
    locust_env,
    run_locust,
    start_process,
    stop,
)

STALL_EVERY_S, STALL_S = 4.0, 1.5
OPEN_RUN = {
    "LAB_PROFILE": "arrival",
    "LAB_SCENARIO": "APIUser",
    "LAB_RATE": "10",
    "LAB_SPAWN_RATE": "10",
    "LAB_DURATION": "23s",  # 10 s + users/spawn rate of sign-in, then ~12 s of arrivals
}


def test_the_plan_splits_every_arrival_once_across_workers() -> None:
    plan = ArrivalPlan(t0=100.0, steps=(RateStep(0, 10, 5.0), RateStep(10, 20, 20.0)))
    times = [plan.arrival_time(k) for k in range(260)]
    assert times[0] == 100.0
    assert times[49] == pytest.approx(100 + 49 / 5)
    assert times[50] == pytest.approx(110.0)  # the second step starts on time
    assert times[249] == pytest.approx(110 + 199 / 20)
    assert times[250] is None  # 50 + 200 arrivals planned, no more
    assert plan.due(10.0) == 50
    assert plan.due(20.0) == 250
    assert sum(share(i, 3, 0, 250) for i in range(3)) == 250
    assert [share(i, 3, 50, 250) for i in range(3)] == [67, 66, 67]  # 51..249, 52..247, 50..248


def test_a_plan_too_short_for_its_sign_in_is_refused() -> None:
    with pytest.raises(ValueError, match="sign-in"):
        check_fits(duration_s=15, users=50, spawn_rate=10, rate=5)
    check_fits(duration_s=25, users=50, spawn_rate=10, rate=5)  # 5 + 10 s sign-in, 10 s left


def _corrected_us(table):
    return pc.add(table["response_time_us"], table["schedule_lag_us"])


def _open_cluster(app_url: str, runs_dir: Path, run_id: str, tmp_path: Path) -> LocustRun:
    """A master and two workers running the open model to the end."""
    run_dir = runs_dir / run_id
    (run_dir / "locust").mkdir(parents=True)
    lines = "".join(f"{key} = {value}\n" for key, value in RELAXED_TARGETS.items())
    (run_dir / "targets.toml").write_text(f"[targets]\n{lines}")
    port = free_port()
    env = locust_env(runs_dir, run_id, **OPEN_RUN, LAB_USERS="8")
    master = start_process(
        locust_command(
            app_url, run_dir, "--master", "--expect-workers", "2",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        ),
        env,
        tmp_path / "master.log",
    )  # fmt: skip
    worker_env = {k: v for k, v in env.items() if k != "LAB_RUN_ID"}  # they get the master's
    command = locust_command(app_url, run_dir)
    workers = [
        start_process(
            [command[0], "-f", command[2], "--worker", "--master-port", str(port)],
            worker_env,
            tmp_path / f"worker-{i}.log",
        )
        for i in range(2)
    ]
    try:
        code = master.wait(120)
    finally:
        for process in (master, *workers):
            stop(process)
    return LocustRun(code, run_dir, (tmp_path / "master.log").read_text())


@pytest.mark.slow
def test_clean_app_two_workers_share_the_schedule_on_time(live_apps, runs_dir, tmp_path) -> None:
    app = live_apps()
    run = _open_cluster(app.url, runs_dir, "20260101-000000-arrival-c1ea", tmp_path)
    assert run.returncode == 0, run.output[-3000:]
    kinds = [e["kind"] for e in run.events()]
    assert "arrival_plan" in kinds, kinds
    assert "arrivals_late" not in kinds, kinds
    summary = next(e["detail"] for e in run.events() if e["kind"] == "arrivals")
    # ~12 s at 10/s: ~120 planned; the generator kept up.
    assert summary["planned"] >= 100, summary
    assert summary["late_ratio"] <= 0.01, summary
    # The master split the rate: each worker took every other arrival.
    counts = read_counts(run.run_dir)
    assert len(counts) == 2, counts
    planned = [c["steps"][0]["planned"] for c in counts]
    assert abs(planned[0] - planned[1]) <= 1, planned
    assert sum(planned) == summary["planned"]
    table = run.record()
    # The plan waited for the pool: every sign-in had answered before the first arrival.
    plan = next(e["detail"] for e in run.events() if e["kind"] == "arrival_plan")
    assert plan["pool_signed_in"] == 8, plan
    sign_ins = table.filter(  # the pool's sign-ins (a task's re-sign-in would carry a lag)
        pc.and_(pc.equal(table["name"], "/api/auth/token/"), pc.is_null(table["schedule_lag_us"]))
    )
    ends = pc.add(sign_ins["ts_start_us"], sign_ins["response_time_us"])
    assert pc.max(ends).as_py() <= plan["t0"] * 1e6
    scheduled = table.filter(pc.is_valid(table["schedule_lag_us"]))
    assert len(set(scheduled["worker_id"].to_pylist())) == 2
    assert scheduled.num_rows >= 100
    assert table.num_rows > scheduled.num_rows  # sign-ins come before the schedule
    p99_ms = pc.quantile(_corrected_us(scheduled), q=0.99)[0].as_py() / 1000
    # A clean app answers an API list in tens of ms; a loaded shared machine stays well
    # under the 1.5 s pause planted in the other run.
    assert p99_ms < 1000, p99_ms
    # The report shows corrected beside measured, and the sign-in storm apart.
    model = build(run.run_dir).open_model
    assert model.overall is not None
    assert model.overall.count == scheduled.num_rows
    assert model.overall.corrected_p99_ms >= model.overall.p99_ms
    assert model.arrivals == summary
    assert sum(level.count for level in model.sign_ins) >= 3  # 8 users signed in (3 shops)


@pytest.mark.slow
def test_stall_is_in_corrected_latency_and_late_arrivals_flag_the_run(live_apps, runs_dir) -> None:
    app = live_apps(
        LAB_FAULTS="stall", LAB_STALL_EVERY_S=str(STALL_EVERY_S), LAB_STALL_S=str(STALL_S)
    )
    run = run_locust(
        app.url,
        runs_dir,
        "20260101-000000-arrival-57a1",
        env={**OPEN_RUN, "LAB_USERS": "2"},
        targets=RELAXED_TARGETS,
    )
    late = [e["detail"] for e in run.events() if e["kind"] == "arrivals_late"]
    assert late, run.output[-3000:]
    assert late[0]["late_ratio"] > 0.01
    assert run.returncode == EXIT_UNTRUSTWORTHY, run.output[-3000:]
    table = run.record()
    scheduled = table.filter(pc.is_valid(table["schedule_lag_us"]))
    intended = scheduled["intended_start_us"].to_pylist()
    started = scheduled["ts_start_us"].to_pylist()
    corrected = _corrected_us(scheduled).to_pylist()
    checked = 0
    for planned_us, start_us, total_us in zip(intended, started, corrected, strict=True):
        phase = (planned_us / 1e6) % STALL_EVERY_S
        window_end_us = planned_us + (STALL_S - phase) * 1e6
        # Intended in a pause, and sent while it lasted (30 ms before its end: loopback
        # delivery is sub-millisecond): no answer before the pause ended.
        if phase < STALL_S and start_us < window_end_us - 30_000:
            checked += 1
            assert total_us >= window_end_us - planned_us - 5_000, (planned_us, total_us)
    # 2 users are caught at each pause's start (the rest of its arrivals start after it):
    # ~2 per pause, and the ~12 s of arrivals span at least two pauses.
    assert checked >= 2
    p99_ms = pc.quantile(pa.array(corrected), q=0.99)[0].as_py() / 1000
    assert p99_ms >= 1000, p99_ms
    model = build(run.run_dir).open_model
    assert model.late
    assert model.overall is not None
    assert model.overall.corrected_p99_ms >= 1000
