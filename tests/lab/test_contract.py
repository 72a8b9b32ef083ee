"""lab.contract and what follows from it: one duration grammar, safe run arguments, statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.contract import (
    STATUS_ABORTED,
    STATUS_COMPLETED,
    STATUS_FAILED_TO_START,
    STATUS_INTERRUPTED,
    atomic_write,
    event_line,
    parse_duration,
    read_events,
)
from lab.health import status_from_events
from locustfiles._load_plan import LoadPlanMonitor
from tests.harness.environment import REPO_ROOT
from tests.lab.conftest import T0_US, CliResult, tree_digest
from tests.synthetic import request_rows, write_meta, write_request_part

DURATIONS = ["90", "30s", "5m", "2h", "1h30m", "3h30m10s", "0",
             "5m30", "1.5h", " 5m", "5 m", "1d", "m", "", "30S", "-5"]  # fmt: skip


def _locust_verdicts(texts: list[str]) -> dict[str, int | None]:
    """Locust's own parser, in a child process (importing locust monkey-patches with gevent)."""
    code = (
        "import json, sys\n"
        "from locust.util.timespan import parse_timespan\n"
        "out = {}\n"
        "for t in json.loads(sys.argv[1]):\n"
        "    try:\n        out[t] = parse_timespan(t)\n"
        "    except ValueError:\n        out[t] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_duration_grammar_is_locusts() -> None:
    locust = _locust_verdicts(DURATIONS)
    accepted = [t for t in DURATIONS if locust[t] is not None]
    refused = [t for t in DURATIONS if locust[t] is None]
    assert "5m30" in refused
    assert "1h30m" in accepted
    for text in accepted:
        assert parse_duration(text) == locust[text], text
    for text in refused:
        with pytest.raises(ValueError, match=r"[Ii]nvalid time span"):
            parse_duration(text)
    assert "locust" not in sys.modules  # the lab never monkey-patches its own process


def _one_line(result: CliResult) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    return lines[0]


def test_refused_duration_creates_no_run_folder(
    runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    result = lab_cli("run", "--profile", "smoke", "--duration", "5m30", "--local")
    assert result.code == 2
    assert "--duration '5m30'" in _one_line(result)
    assert list(runs_root.iterdir()) == []


def test_accepted_duration_passes_validation() -> None:
    from lab.runner import RunOptions, validate

    opts = RunOptions(runs_root=REPO_ROOT / "runs", profile="smoke", duration="1h30m")
    validate(opts)
    assert opts.duration_s == 5400


BAD_RUN_ARGUMENTS = [
    "../../etc",
    "/etc",
    "..",
    ".",
    "app",
    "20260101-000000-load-0001/..",
    "runs/20260101-000000-load-0001",
    "20260101-000000-load-zzzz",
    "20260101-000000-load-0002",  # the run id format, but no such folder
]


@pytest.mark.parametrize("argument", BAD_RUN_ARGUMENTS)
def test_run_argument_that_is_not_a_run_id_is_refused(
    argument: str,
    tmp_path: Path,
    runs_root: Path,
    lab_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = runs_root / "20260101-000000-load-0001"
    write_meta(good)
    write_request_part(good, request_rows("/dashboard/", [5.0] * 20, start_us=T0_US))
    (tmp_path / "app").mkdir()  # `lab report app` from a folder that has an ./app
    (tmp_path / "etc").mkdir()
    monkeypatch.chdir(tmp_path)
    before = tree_digest(tmp_path)
    for command in (["report", argument], ["soak-verdict", argument],
                    ["compare", "20260101-000000-load-0001", argument]):  # fmt: skip
        result = lab_cli(*command)
        assert result.code == 2, (command, result.out, result.err)
        assert "unknown run" in _one_line(result)
    assert tree_digest(tmp_path) == before  # nothing written anywhere


def test_a_plain_run_id_is_accepted(runs_root: Path, lab_cli: Callable[..., CliResult]) -> None:
    good = runs_root / "20260101-000000-load-0001"
    write_meta(good)
    write_request_part(good, request_rows("/dashboard/", [5.0] * 20, start_us=T0_US))
    result = lab_cli("report", good.name)
    assert result.code == 0, result.err
    assert (good / "report.html").is_file()


def _events(path: Path, *events: tuple[str, dict]) -> Path:
    path.write_text(
        "".join(json.dumps({"ts": "t", "kind": k, "detail": d}) + "\n" for k, d in events)
    )
    return path


def test_status_follows_the_events(tmp_path: Path) -> None:
    started = ("load_started", {"planned_s": 60.0})

    def finished(ran: float) -> tuple[str, dict]:
        return ("run_finished", {"planned_s": 60.0, "ran_s": ran})

    full = _events(tmp_path / "a", started, finished(59.0))
    short = _events(tmp_path / "b", started, finished(40.0))
    died = _events(tmp_path / "c", started)
    never = _events(tmp_path / "d", ("run_started", {}))
    broke = _events(tmp_path / "e", started, ("breaking_point", {}), finished(20.0))
    assert status_from_events(full, interrupted=False) == STATUS_COMPLETED
    assert status_from_events(short, interrupted=False) == STATUS_ABORTED
    assert status_from_events(short, interrupted=True) == STATUS_INTERRUPTED
    assert status_from_events(died, interrupted=False) == STATUS_ABORTED
    assert status_from_events(never, interrupted=False) == STATUS_FAILED_TO_START
    # Ctrl-C before the load began: the user stopped it, it did not fail to start.
    assert status_from_events(never, interrupted=True) == STATUS_INTERRUPTED
    # A run without a plan (a UI run with no run time) completes when it finishes.
    unplanned = _events(tmp_path / "f", started, ("run_finished", {"planned_s": None}))
    assert status_from_events(unplanned, interrupted=False) == STATUS_COMPLETED
    # Exactly at the tolerance (max(3 s, 2 %) of 60 s = 3 s short) still completes.
    assert status_from_events(
        _events(tmp_path / "g", started, finished(57.0)), interrupted=False
    ) == (STATUS_COMPLETED)
    assert status_from_events(
        _events(tmp_path / "h", started, finished(56.9)), interrupted=False
    ) == (STATUS_ABORTED)
    assert status_from_events(tmp_path / "missing", interrupted=False) == STATUS_FAILED_TO_START
    assert status_from_events(broke, interrupted=False) == STATUS_COMPLETED


def test_one_events_reader_keeps_objects_and_counts_torn_lines(tmp_path: Path) -> None:
    """The master's, the battery's and the report's view of events.jsonl is this one reader."""
    path = tmp_path / "events.jsonl"
    assert read_events(path) == ([], 0)  # no file yet: no events
    first = event_line("load_started", {"users": 3})
    second = event_line("run_finished", {"planned_s": 60})
    path.write_text(f'{first}\n\n[1, 2]\n{{"no_kind": 1}}\n{second}\n{{"kind": "tor')
    events, unreadable = read_events(path)
    assert [e["kind"] for e in events] == ["load_started", "run_finished"]
    assert events[0]["detail"] == {"users": 3}
    assert "ts" in events[0]
    assert unreadable == 3  # a list, an object without a kind, the torn last line


@pytest.mark.parametrize("status", [STATUS_ABORTED, STATUS_INTERRUPTED, STATUS_FAILED_TO_START])
def test_only_a_completed_run_can_pass(
    status: str, runs_root: Path, lab_cli: Callable[..., CliResult]
) -> None:
    run_dir = runs_root / "20260101-000000-load-0001"
    write_meta(run_dir, status=status)
    write_request_part(run_dir, request_rows("/dashboard/", [5.0] * 20, start_us=T0_US))
    result = lab_cli("report", run_dir.name)
    assert result.code == 3
    assert result.out.startswith("PARTIAL")
    listing = lab_cli("runs")
    assert status in listing.out
    assert "PARTIAL" in listing.out


def test_load_plan_monitor_flags_excess_and_not_a_steady_run() -> None:
    steady = LoadPlanMonitor()
    for second in range(30):
        steady.sample(float(second), 20, 20, settled=True)
    steady.close(30.0)
    assert steady.closed == []

    over = LoadPlanMonitor()
    users = [20] * 5 + [28] * 10 + [20] * 5
    for second, actual in enumerate(users):
        over.sample(float(second), 20, actual, settled=True)
    over.close(20.0)
    [window] = over.closed
    assert window.direction == "over"
    assert window.extreme_users == 28
    assert window.detail()["excess_users"] == 8
    assert 8 <= window.ended - window.started <= 11

    ramp = LoadPlanMonitor()  # users below plan during a ramp are not a deviation
    for second in range(10):
        ramp.sample(float(second), 20, second * 2, settled=False)
    ramp.close(10.0)
    assert ramp.closed == []


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "meta.json"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["meta.json"]  # no temporary left
    atomic_write(tmp_path / "secret", "x", mode=0o600)
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
