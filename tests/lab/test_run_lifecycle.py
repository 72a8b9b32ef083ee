"""The pieces of `lab run` that decide before any load is sent: ids, targets, meta, stopping."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lab.contract import RUN_ID_PATTERN, new_run_id
from lab.errors import LabError
from lab.meta import images_and_limits, initial_meta, write_meta
from lab.runner import _Processes, parse_duration, targets_toml
from lab.target_safety import check_target
from lab.targets import Targets, load_targets


def test_run_id_format() -> None:
    run_id = new_run_id("load", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    assert re.fullmatch(r"20260304-050607-load-[0-9a-f]{4}", run_id)
    assert RUN_ID_PATTERN.match(run_id)
    assert new_run_id("soak") != new_run_id("soak") or True  # 4 random hex: collisions are rare
    with pytest.raises(ValueError, match="lower-case"):
        new_run_id("Load Test")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000", "http://127.8.9.10/", "http://localhost:8000", "http://[::1]:8000",
     "http://app:8000", "https://locust-master:8089", "http://APP:8000"],
)  # fmt: skip
def test_lab_targets_allowed(url: str) -> None:
    check_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8000",
        "https://shop.example.com",
        "http://app.example.com",
        "http://192.168.1.1",
    ],
)
def test_other_targets_need_exact_allow(url: str) -> None:
    with pytest.raises(LabError, match="--allow-target"):
        check_target(url)
    host = url.split("//")[1].split(":")[0].split("/")[0]
    assert check_target(url, [host]) == host
    with pytest.raises(LabError):
        check_target(url, [host + ".evil", "example.com"])


def test_target_must_be_http() -> None:
    with pytest.raises(LabError, match="not an http"):
        check_target("ftp://127.0.0.1/")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("45", 45)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_targets_file_round_trip(tmp_path: Path) -> None:
    custom = Targets(api_p95_ms=300.0, n_plus_one_min_repeats=7, latency_drift_max_ratio=1.5)
    (tmp_path / "targets.toml").write_text(targets_toml(custom))
    assert load_targets(tmp_path) == custom
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


def test_stop_lets_the_process_finish_its_results(tmp_path: Path) -> None:
    # A child that, like Locust, writes its results when asked to stop with SIGTERM.
    marker = tmp_path / "flushed"
    script = (
        "import signal, sys, time, pathlib\n"
        f"def bye(*_):\n    pathlib.Path({str(marker)!r}).write_text('ok'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(30)\n"
    )
    procs = _Processes([[sys.executable, "-c", script]], {}, tmp_path / "log")
    time.sleep(0.5)
    started = time.monotonic()
    procs.stop(timeout_s=10)
    procs.wait_workers()
    assert time.monotonic() - started < 5
    assert marker.read_text() == "ok"
    assert procs.main.returncode == 0


def test_stop_escalates_to_kill(tmp_path: Path) -> None:
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(30)\n"
    procs = _Processes([[sys.executable, "-c", script]], {}, tmp_path / "log")
    time.sleep(0.5)
    procs.stop(timeout_s=1)
    procs.wait_workers()
    assert procs.main.returncode == -signal.SIGKILL


def test_ctrl_c_keeps_results_and_marks_interrupted(tmp_path: Path) -> None:
    """SIGINT to a real `lab run`: Locust stopped, meta status interrupted, report written."""
    runs = tmp_path / "runs"
    lab = subprocess.Popen(
        [sys.executable, "-m", "lab", "--runs-dir", str(runs), "run", "--profile", "smoke",
         "--duration", "60s", "--target", "http://127.0.0.1:9"],  # discard port: nothing listens
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(runs.glob("*/locust/locust.log")):
        time.sleep(0.2)
    time.sleep(4)  # let Locust start its users
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
