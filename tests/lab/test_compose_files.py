"""The Compose files of each image set: one list for `lab run --compose` and lab-stack.sh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.compose_files import REPO_ROOT, compose_file_args, compose_files
from lab.compose_run import compose_base, up_args
from lab.errors import LabError
from lab.runner import RunOptions, validate


def test_default_set_is_the_base_file_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_IMAGES", raising=False)
    assert compose_files() == ("docker-compose.perf.yml",)
    assert compose_file_args() == ["-f", str(REPO_ROOT / "docker-compose.perf.yml")]


def test_offline_set_adds_its_override_after_the_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "offline")
    assert compose_files() == ("docker-compose.perf.yml", "docker-compose.offline.yml")
    for name in compose_files():
        assert (REPO_ROOT / name).is_file(), name


def test_explicit_set_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "offline")
    assert compose_files("default") == ("docker-compose.perf.yml",)


def test_unknown_set_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "registry")
    with pytest.raises(LabError, match="LAB_IMAGES=registry: use LAB_IMAGES=default"):
        compose_files()


def test_lab_run_compose_command_follows_lab_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_IMAGES", "offline")
    command = [*compose_base(), *up_args(2)]
    files = [command[i + 1] for i, arg in enumerate(command) if arg == "-f"]
    assert [Path(f).name for f in files] == [
        "docker-compose.perf.yml",
        "docker-compose.offline.yml",
    ]
    assert command[command.index("up") :][:3] == ["up", "-d", "--no-deps"]
    assert "locust-worker=2" in command
    # A dead worker (or the workers quitting before the master's report) stops nothing else:
    # the run ends when the master's container exits.
    assert "--abort-on-container-failure" not in command
    assert "--exit-code-from" not in command


def test_lab_run_refuses_unknown_set_in_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    # validate() runs before the run folder is made, so a refused run leaves nothing behind.
    monkeypatch.setenv("LAB_IMAGES", "bogus")
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    opts = RunOptions(runs_root=REPO_ROOT / "runs", profile="smoke", compose=True)
    with pytest.raises(LabError, match="LAB_IMAGES=bogus"):
        validate(opts)
    monkeypatch.setenv("LAB_IMAGES", "offline")
    validate(opts)


def test_module_prints_one_argument_per_line_for_the_scripts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lab.compose_files", "offline"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == compose_file_args("offline")
    bad = subprocess.run(
        [sys.executable, "-m", "lab.compose_files", "nope"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip() == (
        "lab: LAB_IMAGES=nope: use LAB_IMAGES=default (registry images) or LAB_IMAGES=offline"
    )
