"""The perf settings refuse unsafe configuration; /healthz tells a dead Redis from a live one."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.test import Client, override_settings

from tests.harness.environment import REPO_ROOT

LOAD_PERF_SETTINGS = "from django.conf import settings; print(settings.DEBUG)"


def load_perf_settings(**env: str) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    child.update(DJANGO_SETTINGS_MODULE="config.settings.perf", **env)
    return subprocess.run(
        [sys.executable, "-c", LOAD_PERF_SETTINGS],
        cwd=REPO_ROOT / "app",
        env=child,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_perf_settings_refuse_the_development_secret_key() -> None:
    result = load_perf_settings()
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_perf_settings_refuse_a_short_secret_key() -> None:
    result = load_perf_settings(DJANGO_SECRET_KEY="short")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_perf_settings_refuse_debug() -> None:
    result = load_perf_settings(DJANGO_SECRET_KEY=secrets.token_urlsafe(48), DJANGO_DEBUG="1")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be off" in result.stderr


def test_perf_settings_load_with_a_real_key_and_debug_off() -> None:
    result = load_perf_settings(DJANGO_SECRET_KEY=secrets.token_urlsafe(48))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.django_db
def test_healthz_is_ok_with_database_and_redis(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_and_names_redis_when_redis_is_down(client: Client, free_port: int) -> None:
    dead_redis = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port}/0",
        }
    }
    with override_settings(CACHES=dead_redis):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert set(body["problems"]) == {"redis"}


@pytest.mark.django_db
def test_healthz_accepts_only_get(client: Client) -> None:
    assert client.post("/healthz").status_code == 405
