"""Session sign-in: CSRF, wrong passwords, throttling per account and per IP, sign-out."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from jewelry.tenants import throttle
from jewelry.tenants.models import User
from tests.app.factories import PASSWORD, Shop

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def attempt(client: Client, email: str, password: str, ip: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def fail_times(client: Client, email: str, times: int, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert attempt(client, email, "wrong password", ip).status_code == 200


def test_login_page_renders_a_csrf_protected_form(client: Client) -> None:
    response = client.get(LOGIN)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert "csrftoken" in response.cookies


def test_post_without_csrf_token_is_forbidden(shop: Shop) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"username": shop.user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_post_with_csrf_token_signs_in_and_redirects_to_dashboard(shop: Shop) -> None:
    client = Client(enforce_csrf_checks=True)
    token = client.get(LOGIN).cookies["csrftoken"].value
    response = client.post(
        LOGIN, {"username": shop.user.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert client.session["_auth_user_id"] == str(shop.user.pk)
    assert client.get("/dashboard/").status_code == 200


def test_password_is_hashed_with_argon2(shop: Shop) -> None:
    assert User.objects.get(pk=shop.user.pk).password.startswith("argon2$")


def test_wrong_password_is_rejected_with_a_message(client: Client, shop: Shop) -> None:
    response = attempt(client, shop.user.email, "not the password")
    assert response.status_code == 200
    assert "Wrong e-mail or password." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/dashboard/").status_code == 302


def test_unknown_account_is_rejected_like_a_wrong_password(client: Client) -> None:
    response = attempt(client, "nobody@nowhere.test", "whatever")
    assert response.status_code == 200
    assert "Wrong e-mail or password." in response.content.decode()


def test_account_without_a_shop_cannot_sign_in(client: Client) -> None:
    User.objects.create_user(email="staff@lab.test", password=PASSWORD, tenant=None)
    response = attempt(client, "staff@lab.test", PASSWORD)
    assert response.status_code == 200
    assert "does not belong to a shop" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"username": "", "password": ""},
        {"username": "x" * 5000, "password": "y"},
        {"username": "' OR 1=1 --", "password": "' OR '1'='1"},
        {"username": "nul\x00byte@x.test", "password": "p"},
    ],
)
def test_malformed_login_posts_are_refused_not_errors(client: Client, fields: dict) -> None:
    response = client.post(LOGIN, fields)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_account_is_throttled_after_the_limit_even_from_other_ips(
    client: Client, shop: Shop
) -> None:
    limit = settings.LOGIN_THROTTLE_LIMIT
    for n in range(limit):  # one failure per IP: only the account counter reaches the limit
        assert attempt(client, shop.user.email, "wrong", ip=f"10.1.0.{n}").status_code == 200
    blocked = attempt(client, shop.user.email, PASSWORD, ip="10.1.1.1")
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts for this account" in blocked.content.decode()
    assert int(blocked["Retry-After"]) == settings.LOGIN_THROTTLE_WINDOW_SECONDS
    assert "_auth_user_id" not in client.session
    # The e-mail's case does not open a fresh counter.
    assert attempt(client, shop.user.email.upper(), PASSWORD, ip="10.1.1.2").status_code == 429


def test_other_accounts_are_not_throttled_by_one_accounts_failures(
    client: Client, shop: Shop, other_shop: Shop
) -> None:
    for n in range(settings.LOGIN_THROTTLE_LIMIT):
        attempt(client, shop.user.email, "wrong", ip=f"10.2.0.{n}")
    assert attempt(client, other_shop.user.email, PASSWORD, ip="10.2.1.1").status_code == 302


def test_ip_is_throttled_across_accounts(client: Client, shop: Shop, other_shop: Shop) -> None:
    for n in range(settings.LOGIN_THROTTLE_LIMIT):  # each account fails once, all from one IP
        attempt(client, f"guess{n}@nowhere.test", "wrong", ip="10.3.0.1")
    blocked = attempt(client, shop.user.email, PASSWORD, ip="10.3.0.1")
    assert blocked.status_code == 429
    assert "your network address" in blocked.content.decode()
    # The same account from another address is fine: its own counter is clean.
    assert attempt(client, shop.user.email, PASSWORD, ip="10.3.0.2").status_code == 302


def test_a_throttled_attempt_does_not_check_the_password(
    client: Client, shop: Shop, django_assert_num_queries
) -> None:
    fail_times(client, shop.user.email, settings.LOGIN_THROTTLE_LIMIT)
    # No user lookup at all, so no Argon2 verification either: a blocked attempt is cheap.
    with django_assert_num_queries(0):
        assert attempt(client, shop.user.email, PASSWORD).status_code == 429


def test_success_clears_the_account_counter(client: Client, shop: Shop) -> None:
    limit = settings.LOGIN_THROTTLE_LIMIT
    fail_times(client, shop.user.email, limit - 1, ip="10.4.0.1")
    assert attempt(client, shop.user.email, PASSWORD, ip="10.4.0.2").status_code == 302
    client.post("/accounts/logout/")
    # Without the reset, one more failure would reach the limit and block the next attempt.
    fail_times(client, shop.user.email, limit - 1, ip="10.4.0.3")
    assert attempt(client, shop.user.email, PASSWORD, ip="10.4.0.4").status_code == 302


def test_failure_counters_expire_with_the_window(client: Client, shop: Shop) -> None:
    """Read the counters' TTL in Redis itself (sleeping out a window would make a slow test)."""
    fail_times(client, shop.user.email, 2, ip="10.5.0.1")
    redis = cache._cache.get_client(write=False)  # Django's RedisCache exposes no TTL call
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    for key in (throttle._account_key(shop.user.email), throttle._ip_key("10.5.0.1")):
        full_key = cache.make_key(key)
        assert int(redis.get(full_key)) == 2
        assert 0 < redis.ttl(full_key) <= window


def test_logout_is_post_only_and_ends_the_session(shop_client: Client) -> None:
    assert shop_client.get("/accounts/logout/").status_code == 405
    response = shop_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert shop_client.get("/dashboard/").status_code == 302


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/",
        "/inventory/",
        "/inventory/1/",
        "/inventory/low-stock/",
        "/customers/",
        "/customers/1/",
        "/sales/",
        "/sales/1/",
    ],
)
def test_pages_redirect_anonymous_users_to_login(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={path}"
