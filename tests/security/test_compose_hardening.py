"""The Compose lab's doors: secrets off command lines, Redis behind its password, no root,
no lifecycle API, allowed hosts of the lab's own names.

Static checks read the Compose files as Compose does (YAML); the Redis check runs the
service's own command with the machine's redis-server; the .env check runs lab-env.sh.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import yaml

from tests.harness.environment import REPO_ROOT
from tests.harness.processes import free_port

COMPOSE_FILES = ("docker-compose.perf.yml", "docker-compose.offline.yml")


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags (`!override`, `!reset`) read as their plain value."""


def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


ComposeLoader.add_multi_constructor("!", _plain)


def services() -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for name in COMPOSE_FILES:
        document = yaml.load((REPO_ROOT / name).read_text(), Loader=ComposeLoader)  # noqa: S506
        for service, spec in (document.get("services") or {}).items():
            target = merged.setdefault(service, {})
            for key, value in (spec or {}).items():
                if key == "environment" and isinstance(target.get(key), dict):
                    target[key] = {**target[key], **value}  # Compose merges mappings
                else:
                    target[key] = value
    return merged


def generated_secrets() -> list[str]:
    """Keys .env.example marks `generate`: the secrets of an install."""
    text = (REPO_ROOT / ".env.example").read_text()
    return re.findall(r"^([A-Z0-9_]+)=generate$", text, flags=re.MULTILINE)


def test_no_secret_is_interpolated_into_a_command_line() -> None:
    keys = generated_secrets()
    assert {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "PGBOUNCER_STATS_PASSWORD"} <= set(keys)
    for service, spec in services().items():
        for field in ("command", "entrypoint"):
            text = str(spec.get(field) or "")
            # `$$NAME` is read by the container's shell from its environment at run time;
            # `${NAME}` would be Compose pasting the secret into the argv.
            for key in keys:
                assert not re.search(r"(?<!\$)\$\{?" + key + r"\b", text), (service, field, key)


def test_app_and_exporters_use_least_privilege_logins() -> None:
    spec = services()
    django = spec["app"]["environment"]
    assert django["DATABASE_USER"] == "${POSTGRES_APP_USER:-lab_app}"
    assert spec["pgbouncer"]["environment"]["DB_USER"] == "${POSTGRES_APP_USER:-lab_app}"
    assert spec["pgbouncer"]["environment"]["ADMIN_USERS"] != "${POSTGRES_USER:-jewelry}"
    assert "POSTGRES_USER" not in spec["pgbouncer"]["environment"]["STATS_USERS"]
    assert "lab_monitor" in spec["postgres-exporter"]["environment"]["DATA_SOURCE_NAME"]
    connection = spec["pgbouncer-exporter"]["environment"]["PGBOUNCER_EXPORTER_CONNECTION_STRING"]
    assert connection.startswith("postgres://${PGBOUNCER_STATS_USER")
    # Only the seed (migrations) logs in as the superuser.
    superusers = [
        name
        for name, service in spec.items()
        if "${POSTGRES_USER" in str((service.get("environment") or {}).get("DATABASE_USER", ""))
    ]
    assert superusers == ["seed"]


def test_redis_password_and_small_doors() -> None:
    spec = services()
    assert "${REDIS_PASSWORD" in spec["app"]["environment"]["REDIS_URL"]
    assert spec["redis-exporter"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD")
    prometheus = " ".join(spec["prometheus"]["command"])
    assert "--web.enable-lifecycle" not in prometheus
    hosts = spec["app"]["environment"]["DJANGO_ALLOWED_HOSTS"]
    assert "*" not in hosts
    for name, service in spec.items():
        for port in service.get("ports") or []:
            assert str(port).startswith("${LAB_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
    for name in ("seed", "locust-master", "locust-worker", "trace-archive", "redis"):
        assert spec[name].get("user"), f"{name} has no user: it would run as the image's"


def compose_redis_command(port: int) -> list[str]:
    """The Compose service's own command (for both image sets), on a free loopback port."""
    command = services()["redis"]["command"]
    assert command[:2] == ["sh", "-c"]
    return ["sh", "-c", command[2].replace("$$", "$") + f" --port {port} --bind 127.0.0.1"]


def offline_entrypoint(port: int) -> list[str]:
    """The offline image's entrypoint with a plain redis-server command."""
    entrypoint = REPO_ROOT / "docker" / "offline" / "redis-entrypoint.sh"
    return ["bash", str(entrypoint), "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", ""]  # fmt: skip


@pytest.mark.parametrize("launch", [compose_redis_command, offline_entrypoint])
def test_redis_requires_its_password_which_is_on_no_command_line(
    launch: Callable[[int], list[str]], tmp_path: Path
) -> None:
    port = free_port()
    password = secrets.token_hex(16)
    process = subprocess.Popen(
        launch(port),
        env={**os.environ, "REDIS_PASSWORD": password},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # sh, printf and redis-server: stopped together below
    )
    try:
        deadline = time.monotonic() + 20
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
        while True:
            try:
                anonymous.ping()
            except redis.AuthenticationError:
                break  # up, and refusing us
            except redis.ConnectionError:
                assert process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
                continue
            pytest.fail("Redis answered PING without a password")
        assert redis.Redis(host="127.0.0.1", port=port, password=password).ping()
        every_argv = subprocess.run(
            ["ps", "-eo", "args"], capture_output=True, text=True, check=True
        ).stdout
        assert password not in every_argv
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def test_env_generation_never_gives_containers_root(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "lab-env.sh"), str(target)],
        check=True,
        capture_output=True,
    )
    values = dict(
        line.split("=", 1) for line in target.read_text().splitlines() if "=" in line[:40]
    )
    assert values["LAB_UID"] != "0"
    assert values["LAB_GID"] != "0"
    if os.geteuid() == 0:
        assert values["LAB_UID"] == "10001"
    for key in generated_secrets():
        assert len(values[key]) >= 32, key
    assert len({values[key] for key in generated_secrets()}) == len(generated_secrets())
    assert oct(target.stat().st_mode & 0o777) == "0o600"
