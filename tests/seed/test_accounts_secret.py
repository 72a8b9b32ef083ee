"""Seeded passwords are the install's own (issue 19): with LAB_ACCOUNTS_SECRET the 15 lab
logins cannot be recomputed from the repository, yet stay the same within one install."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

from tests.seed.support import TINY, ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()  # the login throttle lives in the shared Redis
    yield
    cache.clear()


def accounts(runs_dir: Path) -> list[dict]:
    return json.loads((runs_dir / "credentials.json").read_text())["users"]


def logs_in(account: dict) -> bool:
    response = Client().post(
        "/accounts/login/", {"username": account["email"], "password": account["password"]}
    )
    return response.status_code == 302


def test_passwords_mix_in_the_install_secret(run_seed: Callable, runs_dir: Path) -> None:
    install = {"LAB_ACCOUNTS_SECRET": "secret-of-this-install-0123456789abcdef"}
    ok(run_seed(*TINY, env=install))
    mixed = accounts(runs_dir)
    assert logs_in(mixed[0])
    ok(run_seed(*TINY, env=install))  # same install: nothing to do, the same passwords
    assert accounts(runs_dir) == mixed
    # Another secret never gets a credentials file whose passwords do not log in.
    refused = run_seed(*TINY, env={"LAB_ACCOUNTS_SECRET": "another-install"})
    assert refused.returncode != 0
    assert "LAB_ACCOUNTS_SECRET" in refused.stderr
    assert accounts(runs_dir) == mixed
    # What anybody can recompute from the repository (no secret) differs for every account.
    ok(run_seed(*TINY, "--replace", env={"LAB_ACCOUNTS_SECRET": ""}))
    public = accounts(runs_dir)
    assert [a["email"] for a in public] == [a["email"] for a in mixed]
    assert all(p["password"] != m["password"] for p, m in zip(public, mixed, strict=True))
    assert logs_in(public[0])
    assert not logs_in(mixed[0])
