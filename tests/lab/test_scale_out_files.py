"""The Compose files of workers on other hosts: what is published, where, and when.

The real thing (a second Compose project joining through the published port) is
`make scale-out-proof`; these keep the defaults honest without Docker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.compose_files import PUBLISH_MASTER_FILE, compose_files
from tests.harness.environment import REPO_ROOT


def load(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / name).read_text())


@pytest.fixture(autouse=True)
def settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "lab.env"
    monkeypatch.setenv("LAB_ENV_FILE", str(path))
    for name in ("LAB_IMAGES", "LAB_PUBLISH_MASTER"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_the_master_port_is_published_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, settings_file: Path
) -> None:
    assert PUBLISH_MASTER_FILE not in compose_files()
    settings_file.write_text("LAB_PUBLISH_MASTER=\n")  # what a new .env holds
    assert PUBLISH_MASTER_FILE not in compose_files()
    settings_file.write_text("LAB_PUBLISH_MASTER=1\n")
    assert compose_files()[-1] == PUBLISH_MASTER_FILE
    monkeypatch.setenv("LAB_IMAGES", "offline")
    assert compose_files() == (
        "docker-compose.perf.yml", "docker-compose.offline.yml", PUBLISH_MASTER_FILE,
    )  # fmt: skip


def test_published_ports_bind_to_loopback_by_default() -> None:
    services = load(PUBLISH_MASTER_FILE)["services"]
    ports = [port for service in services.values() for port in service["ports"]]
    assert sorted(p.rsplit(":", 1)[1] for p in ports) == ["4318", "5557"]
    for port in ports:
        assert port.startswith("${LAB_MASTER_BIND_ADDRESS:-127.0.0.1}:"), port
    text = (REPO_ROOT / PUBLISH_MASTER_FILE).read_text()
    assert "NO authentication" in text


def test_remote_workers_have_no_runs_folder_no_port_and_no_default_secret() -> None:
    [(name, worker)] = load("docker-compose.workers.yml")["services"].items()
    assert name == "locust-worker"
    assert "volumes" not in worker
    assert "ports" not in worker
    env = worker["environment"]
    assert env["LAB_RECORD_DELIVERY"] == "master"
    assert env["LAB_LOCUST_MASTER_HOST"].startswith("${LAB_MASTER_ADDR:?")
    assert env["LAB_RUN_TOKEN_KEY"].startswith("${LAB_RUN_TOKEN_KEY:?")  # required, no default
