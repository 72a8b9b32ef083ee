"""The pieces of `lab run` that decide before any load is sent: ids, targets, meta, stopping."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lab.contract import RUN_ID_PATTERN, new_run_id
from lab.meta import images_and_limits, initial_meta, write_meta
from lab.runner import _Processes, parse_duration, targets_toml
from lab.targets import load_targets


def test_run_id_format() -> None:
    run_id = new_run_id("load", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    assert re.fullmatch(r"20260304-050607-load-[0-9a-f]{4}", run_id)
    assert RUN_ID_PATTERN.match(run_id)
    # 4 random hex digits: 40 ids of the same second are not all alike (p = 65536**-39).
    same_second = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    suffixes = {new_run_id("soak", same_second).rsplit("-", 1)[1] for _ in range(40)}
    assert len(suffixes) > 1
    with pytest.raises(ValueError, match="lower-case"):
        new_run_id("Load Test")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("45", 45)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_targets_file_round_trip(tmp_path: Path) -> None:
    custom = replace(
        load_targets(),  # the shipped file's budgets included
        api_p95_ms=300.0,
        n_plus_one_min_repeats=7,
        latency_drift_max_ratio=1.5,
        statement_budgets=tuple(sorted((*load_targets().statement_budgets, ("/zz-extra/", 3)))),
    )
    (tmp_path / "targets.toml").write_text(targets_toml(custom))
    assert load_targets(tmp_path) == custom
    assert load_targets(tmp_path).statement_budget("/zz-extra/") == 3
    assert load_targets(tmp_path, overrides=["page_p95_ms=1500"]).page_p95_ms == 1500.0


def test_meta_records_run_facts(tmp_path: Path) -> None:
    meta = initial_meta(
        run_id="20260101-000000-smoke-abcd", profile="smoke", users=3, spawn_rate=1.0,
        duration="1m",
        workers=0, scenario=None, scale="small", target="http://127.0.0.1:8000", mode="local",
        command=["locust"],
    )  # fmt: skip
    write_meta(tmp_path, meta)
    stored = json.loads((tmp_path / "meta.json").read_text())
    assert stored["status"] == "running"
    assert stored["ended_at"] is None
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", stored["git_rev"])
    assert stored["machine"]["cpus"] >= 1
    assert stored["scale"] == "small"


def test_images_and_limits_from_env_file() -> None:
    images, limits = images_and_limits(
        {"POSTGRES_IMAGE": "postgres:15", "LAB_APP_CPUS": "1.0", "LAB_APP_MEM": "1g", "OTHER": "x"}
    )
    assert images == {"POSTGRES_IMAGE": "postgres:15"}
    assert limits == {"app": {"cpus": "1.0", "memory": "1g"}}


def wait_for_file(path: Path, timeout_s: float = 60) -> None:
    """Wait on a condition, never a fixed sleep: a loaded machine starts Python slowly."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s} s"
        time.sleep(0.05)


def child_script(ready: Path, on_term: str) -> str:
    """A child that, like Locust, installs its SIGTERM handler and then says it is ready."""
    return (
        "import signal, sys, time, pathlib\n"
        f"{on_term}\n"
        f"pathlib.Path({str(ready)!r}).write_text('ready')\n"
        "time.sleep(60)\n"
    )


def test_stop_lets_the_process_finish_its_results(tmp_path: Path) -> None:
    marker, ready = tmp_path / "flushed", tmp_path / "ready"
    on_term = (
        f"def bye(*_):\n    pathlib.Path({str(marker)!r}).write_text('ok'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)"
    )
    procs = _Processes([[sys.executable, "-c", child_script(ready, on_term)]], {}, tmp_path / "log")
    wait_for_file(ready)
    started = time.monotonic()
    procs.stop(timeout_s=30)
    procs.wait_workers()
    assert marker.read_text() == "ok"
    assert procs.main.returncode == 0  # its own exit, not SIGKILL
    assert time.monotonic() - started < 15, "stop() waited for its timeout instead of the exit"


def test_stop_escalates_to_kill(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    on_term = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    procs = _Processes([[sys.executable, "-c", child_script(ready, on_term)]], {}, tmp_path / "log")
    wait_for_file(ready)
    procs.stop(timeout_s=1)
    procs.wait_workers()
    assert procs.main.returncode == -signal.SIGKILL


def test_ctrl_c_keeps_results_and_marks_interrupted(tmp_path: Path) -> None:
    """SIGINT to a real `lab run`: Locust stopped, meta status interrupted, report written."""
    runs = tmp_path / "runs"
    lab = subprocess.Popen(
        [sys.executable, "-m", "lab", "--runs-dir", str(runs), "run", "--profile", "smoke",
         "--local", "--duration", "60s",
         "--target", "http://127.0.0.1:9"],  # discard port: nothing listens
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Interrupt once the load has begun (the plugin wrote `load_started` at Locust's test_start;
    # `run_started` comes earlier, at init): a fixed sleep would interrupt a slow machine's run
    # before Locust even started, and then no duration was run at all (ran_s None).
    deadline = time.monotonic() + 90
    while not any("load_started" in p.read_text() for p in runs.glob("*/events.jsonl")):
        assert lab.poll() is None, lab.communicate()
        assert time.monotonic() < deadline, "Locust never started the run"
        time.sleep(0.1)
    lab.send_signal(signal.SIGINT)
    out, err = lab.communicate(timeout=90)
    assert lab.returncode == 130, out + err
    (run_dir,) = runs.iterdir()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["ended_at"] is not None
    assert (run_dir / "report.html").is_file()
    assert "interrupted" in err
    # Locust stopped cleanly (not killed by the SIGTERM): its end of run is recorded and the
    # requests made so far (none here: no app, no seed) are all in the record. With requests:
    # tests/locust/test_run_status.py.
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    [finished] = [e["detail"] for e in events if e["kind"] == "run_finished"]
    assert finished["ran_s"] < 60
    rows = sum(pq.read_metadata(p).num_rows for p in run_dir.glob("requests/*/part-*.parquet"))
    assert rows == finished["record_rows"] == finished["requests"]
