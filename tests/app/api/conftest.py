"""Fixtures for the API tests: two shops and a JWT-authenticated client for the first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from jewelry.tenants.models import User
from tests.app.factories import Shop, make_shop


def bearer_client(user: User) -> APIClient:
    """A client holding a freshly issued access token (skips Argon2: /token/ has its own tests)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Users made here hash with MD5: Argon2 costs ~0.5 s per user on a busy 2-core machine.

    The token tests check the credential logic, not the hash; Argon2 verification is still
    in the list, and the HTML login tests keep it first.
    """
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *[h for h in settings.PASSWORD_HASHERS if not h.endswith("MD5PasswordHasher")],
    ]


@pytest.fixture
def shop(db: None) -> Shop:
    return make_shop(items=6, customers=3)


@pytest.fixture
def other_shop(db: None) -> Shop:
    """A second tenant whose rows must never show up in `shop`'s answers."""
    return make_shop(items=4, customers=2)


@pytest.fixture
def api(shop: Shop) -> APIClient:
    return bearer_client(shop.user)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


def tenant_ids(payload: Any) -> set[int]:
    """Every `tenant_id` in a JSON document, at any depth."""
    found: set[int] = set()
    if isinstance(payload, dict):
        if "tenant_id" in payload:
            found.add(payload["tenant_id"])
        for value in payload.values():
            found |= tenant_ids(value)
    elif isinstance(payload, list):
        for value in payload:
            found |= tenant_ids(value)
    return found


def objects_without_tenant_id(payload: Any, *, envelope_keys: frozenset[str]) -> list[Any]:
    """JSON objects that lack `tenant_id`, ignoring the pagination envelope."""
    missing: list[Any] = []
    if isinstance(payload, dict):
        if "tenant_id" not in payload and not set(payload) <= envelope_keys:
            missing.append(payload)
        for value in payload.values():
            missing += objects_without_tenant_id(value, envelope_keys=envelope_keys)
    elif isinstance(payload, list):
        for value in payload:
            missing += objects_without_tenant_id(value, envelope_keys=envelope_keys)
    return missing


@pytest.fixture
def checkout(api: APIClient) -> Callable[..., Any]:
    """POST /api/sales/ with a JSON body, returning the response."""

    def post(body: Any, client: APIClient | None = None) -> Any:
        return (client or api).post("/api/sales/", body, format="json")

    return post
