"""`POST /api/auth/token/` is throttled per account and per IP like the HTML login (real Redis)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from tests.app.factories import PASSWORD, Shop, make_shop

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


def obtain(client: APIClient, email: str, password: str, ip: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post(
        TOKEN, {"username": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def fail_times(client: APIClient, email: str, times: int, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert obtain(client, email, "wrong password", ip).status_code == 401


def test_account_is_throttled_after_the_limit_even_from_other_ips(
    anonymous: APIClient, shop: Shop
) -> None:
    limit = settings.LOGIN_THROTTLE_LIMIT
    for n in range(limit):  # one failure per IP: only the account counter reaches the limit
        assert obtain(anonymous, shop.user.email, "wrong", ip=f"10.1.0.{n}").status_code == 401
    blocked = obtain(anonymous, shop.user.email, PASSWORD, ip="10.1.1.1")
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) == settings.LOGIN_THROTTLE_WINDOW_SECONDS
    assert "this account" in blocked.json()["error"]
    assert "access" not in blocked.json()
    assert obtain(anonymous, shop.user.email.upper(), PASSWORD, ip="10.1.1.2").status_code == 429


def test_below_the_limit_the_right_password_still_gets_tokens(
    anonymous: APIClient, shop: Shop
) -> None:
    fail_times(anonymous, shop.user.email, settings.LOGIN_THROTTLE_LIMIT - 1)
    response = obtain(anonymous, shop.user.email, PASSWORD)
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}


def test_ip_is_throttled_across_accounts(anonymous: APIClient, shop: Shop) -> None:
    for n in range(settings.LOGIN_THROTTLE_LIMIT):
        guess = obtain(anonymous, f"guess{n}@nowhere.test", "wrong", ip="10.3.0.1")
        assert guess.status_code == 401
    blocked = obtain(anonymous, shop.user.email, PASSWORD, ip="10.3.0.1")
    assert blocked.status_code == 429
    assert "your network address" in blocked.json()["error"]
    assert obtain(anonymous, shop.user.email, PASSWORD, ip="10.3.0.2").status_code == 200


def test_html_and_api_failures_share_one_budget(anonymous: APIClient, shop: Shop) -> None:
    limit = settings.LOGIN_THROTTLE_LIMIT
    html = Client()
    for n in range(limit - 1):  # guesses on the sign-in form, each from its own address
        form = {"username": shop.user.email, "password": "wrong"}
        assert html.post("/accounts/login/", form, REMOTE_ADDR=f"10.6.0.{n}").status_code == 200
    assert obtain(anonymous, shop.user.email, "wrong", ip="10.6.1.1").status_code == 401
    assert obtain(anonymous, shop.user.email, PASSWORD, ip="10.6.1.2").status_code == 429


def test_a_throttled_attempt_does_not_check_the_password(
    anonymous: APIClient, shop: Shop, django_assert_num_queries
) -> None:
    fail_times(anonymous, shop.user.email, settings.LOGIN_THROTTLE_LIMIT)
    with django_assert_num_queries(0):  # no user lookup, so no password hash either
        assert obtain(anonymous, shop.user.email, PASSWORD).status_code == 429


def test_success_clears_the_account_counter(anonymous: APIClient, shop: Shop) -> None:
    limit = settings.LOGIN_THROTTLE_LIMIT
    fail_times(anonymous, shop.user.email, limit - 1, ip="10.4.0.1")
    assert obtain(anonymous, shop.user.email, PASSWORD, ip="10.4.0.2").status_code == 200
    # Without the reset, one more failure would reach the limit and block the next attempt.
    fail_times(anonymous, shop.user.email, limit - 1, ip="10.4.0.3")
    assert obtain(anonymous, shop.user.email, PASSWORD, ip="10.4.0.4").status_code == 200


def test_other_accounts_are_not_throttled_by_one_accounts_failures(
    anonymous: APIClient, shop: Shop
) -> None:
    other = make_shop(items=1, customers=1)
    for n in range(settings.LOGIN_THROTTLE_LIMIT):
        obtain(anonymous, shop.user.email, "wrong", ip=f"10.2.0.{n}")
    assert obtain(anonymous, other.user.email, PASSWORD, ip="10.2.1.1").status_code == 200
