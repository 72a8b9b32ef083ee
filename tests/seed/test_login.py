"""The credentials file logs in through the real app: Argon2 hashes the app accepts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from jewelry.tenants.models import User
from tests.seed.support import TINY, ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()  # sessions and the login throttle live in the shared Redis
    yield
    cache.clear()


def test_every_seeded_account_logs_in(run_seed: Callable, runs_dir: Path):
    ok(run_seed(*TINY))
    users = json.loads((runs_dir / "credentials.json").read_text())["users"]
    for account in users:
        client = Client()
        response = client.post(
            "/accounts/login/", {"username": account["email"], "password": account["password"]}
        )
        assert response.status_code == 302, account["email"]
        assert response["Location"] == "/dashboard/"
        page = client.get("/dashboard/")
        assert page.status_code == 200
        assert f'data-tenant-id="{account["tenant_id"]}"' in page.content.decode()
    stored = User.objects.get(email=users[0]["email"]).password
    assert stored.startswith("argon2$argon2id$")


def test_a_wrong_password_does_not(run_seed: Callable, runs_dir: Path):
    ok(run_seed(*TINY))
    account = json.loads((runs_dir / "credentials.json").read_text())["users"][0]
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": account["email"], "password": account["password"] + "x"}
    )
    # Refused as a wrong password (the form again, with its message), not an error page.
    assert response.status_code == 200
    assert "Wrong e-mail or password." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/dashboard/").status_code == 302  # still signed out: sent to sign in
