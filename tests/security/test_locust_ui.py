"""The Locust web UI is behind a login and every start obeys the target allow-list and the
runs folder, whether it comes from the UI's HTTP API or the command line (real Locust).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.harness.environment import REPO_ROOT
from tests.harness.processes import free_port
from tests.locust.conftest import LOCUST, LOCUSTFILES, locust_env, start_process, stop, wait_for

pytestmark = [pytest.mark.slow]

RUN_ID = "20260101-000000-smoke-5afe"


@dataclass
class LocustUI:
    url: str
    password: str
    runs_dir: Path
    log: Path

    def state(self, session: requests.Session) -> str:
        return session.get(f"{self.url}/stats/requests", timeout=10).json()["state"]

    def logged_in(self) -> requests.Session:
        session = requests.Session()
        answer = session.post(
            f"{self.url}/lab-login",
            data={"username": "lab", "password": self.password},
            timeout=10,
            allow_redirects=False,
        )
        assert answer.status_code == 302
        assert "samesite=strict" in answer.headers["Set-Cookie"].lower()
        return session


@pytest.fixture
def locust_ui(tmp_path: Path) -> Iterator[LocustUI]:
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    password = secrets.token_hex(16)
    port = free_port()
    env = locust_env(runs_dir, RUN_ID, LAB_LOCUST_WEB_PASSWORD=password)
    log = tmp_path / "locust-ui.log"
    command = [str(LOCUST), "-f", str(LOCUSTFILES), "--web-host", "127.0.0.1"]
    command += ["--web-port", str(port), "--host", f"http://127.0.0.1:{free_port()}"]
    process = start_process(command, env, log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return requests.get(f"{url}/login", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(up, 60, "the Locust web UI")
    yield LocustUI(url, password, runs_dir, log)
    stop(process)


def test_ui_and_http_api_need_the_login(locust_ui: LocustUI) -> None:
    anonymous = requests.Session()
    page = anonymous.get(locust_ui.url, timeout=10, allow_redirects=False)
    assert page.status_code == 302
    assert "/login" in page.headers["Location"]
    swarm = anonymous.post(
        f"{locust_ui.url}/swarm",
        data={"user_count": "1", "spawn_rate": "1", "host": "http://127.0.0.1:9"},
        timeout=10,
        allow_redirects=False,
    )
    assert swarm.status_code == 302  # to the login page, nothing started
    wrong = anonymous.post(
        f"{locust_ui.url}/lab-login",
        data={"username": "lab", "password": "not-it"},
        timeout=10,
    )
    assert wrong.url.endswith("/login")
    assert anonymous.get(locust_ui.url, timeout=10, allow_redirects=False).status_code == 302
    assert locust_ui.state(locust_ui.logged_in()) == "ready"


def test_every_start_obeys_the_allow_list_and_the_runs_folder(locust_ui: LocustUI) -> None:
    session = locust_ui.logged_in()
    refused = [
        {"host": "http://example.com"},
        {"host": "http://10.1.2.3:8000"},
        {"host": "http://127.0.0.1:9", "lab_runs_dir": "/tmp/elsewhere"},
        {"host": "http://127.0.0.1:9", "html_file": "/tmp/overwritten.html"},
        {"host": "http://127.0.0.1:9", "lab_run_id": "../../etc"},
    ]
    for extra in refused:
        answer = session.post(
            f"{locust_ui.url}/swarm",
            data={"user_count": "1", "spawn_rate": "1", **extra},
            timeout=10,
        )
        assert answer.status_code == 400, (extra, answer.text)
        assert answer.json()["success"] is False
        assert locust_ui.state(session) == "ready", extra
    user_class = session.post(
        f"{locust_ui.url}/user",
        json={"user_class_name": "TenantUser", "host": "http://example.com"},
        timeout=10,
    )
    assert user_class.status_code == 400
    assert not Path("/tmp/overwritten.html").exists()
    assert not Path("/tmp/elsewhere").exists()

    # A start the lab allows goes through (the Locust UI echoes every option it shows).
    allowed = session.post(
        f"{locust_ui.url}/swarm",
        data={
            "user_count": "1",
            "spawn_rate": "1",
            "host": "http://127.0.0.1:9",
            "lab_runs_dir": str(locust_ui.runs_dir),
            "lab_record_flush_seconds": "2",
        },
        timeout=10,
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["success"] is True
    wait_for(lambda: locust_ui.state(session) in ("spawning", "running"), 30, "the test to start")
    session.get(f"{locust_ui.url}/stop", timeout=10)


def test_ui_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    env = locust_env(tmp_path / "runs", RUN_ID)
    env.pop("LAB_LOCUST_WEB_PASSWORD", None)
    command = [str(LOCUST), "-f", str(LOCUSTFILES), "--web-host", "127.0.0.1"]
    command += ["--web-port", str(free_port()), "--host", "http://127.0.0.1:9"]
    done = subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "LAB_LOCUST_WEB_PASSWORD" in done.stderr


def test_cli_start_against_a_foreign_host_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    runs_dir = tmp_path / "runs"
    env = locust_env(runs_dir, RUN_ID)
    command = [str(LOCUST), "-f", str(LOCUSTFILES), "--headless", "--host", "http://example.com"]
    done = subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "example.com" in done.stderr
    assert not runs_dir.exists()
