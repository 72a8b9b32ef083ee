"""JWT obtain/refresh with the documented body, expiry, and the cost of authenticating."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from jewelry.tenants.models import User
from tests.app.factories import PASSWORD, Shop

pytestmark = pytest.mark.django_db


def obtain(client: APIClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_obtain_with_email_as_username_returns_a_working_pair(
    anonymous: APIClient, shop: Shop
) -> None:
    response = obtain(anonymous, shop.user.email)

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}
    access = AccessToken(response.json()["access"])
    assert access["user_id"] == str(shop.user.pk) or access["user_id"] == shop.user.pk
    assert access["tenant_id"] == shop.tenant.pk
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert anonymous.get("/api/inventory/").status_code == 200


def test_obtain_rejects_a_wrong_password_with_401(anonymous: APIClient, shop: Shop) -> None:
    response = obtain(anonymous, shop.user.email, "not the password")

    assert response.status_code == 401
    assert "credentials" in response.json()["error"]
    assert "access" not in response.json()


def test_obtain_rejects_an_unknown_account_with_401(anonymous: APIClient, shop: Shop) -> None:
    assert obtain(anonymous, "nobody@nowhere.test").status_code == 401


def test_obtain_needs_the_documented_username_key(anonymous: APIClient, shop: Shop) -> None:
    response = anonymous.post(
        "/api/auth/token/", {"email": shop.user.email, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert "username" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"username": "a" * 300 + "@x.test", "password": PASSWORD}, "username"),
        ({"username": "x@x.test", "password": "p" * 1000}, "password"),
        ({"username": ["x@x.test"], "password": PASSWORD}, "username"),
        ({}, "username"),
    ],
)
def test_obtain_rejects_malformed_credentials_with_400(
    anonymous: APIClient, shop: Shop, body: dict[str, object], needle: str
) -> None:
    response = anonymous.post("/api/auth/token/", body, format="json")

    assert response.status_code == 400
    assert needle in response.json()["error"]


def test_obtain_rejects_malformed_json_with_400(anonymous: APIClient) -> None:
    response = anonymous.post(
        "/api/auth/token/", '{"username": "x', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]


def test_obtain_refuses_an_account_without_a_shop(anonymous: APIClient) -> None:
    User.objects.create_user(email="staff@lab.test", password=PASSWORD, tenant=None)

    response = obtain(anonymous, "staff@lab.test")

    assert response.status_code == 401
    assert response.json()["error"] == "this account belongs to no shop"


def test_requests_without_a_token_get_401(anonymous: APIClient) -> None:
    response = anonymous.get("/api/inventory/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer a b", "Bearer " + "x" * 5000])
def test_a_garbage_token_gets_401(anonymous: APIClient, shop: Shop, header: str) -> None:
    anonymous.credentials(HTTP_AUTHORIZATION=header)

    response = anonymous.get("/api/inventory/")

    assert response.status_code == 401
    assert response.json()["error"]


def test_an_expired_access_token_gets_401(anonymous: APIClient, shop: Shop) -> None:
    access = AccessToken.for_user(shop.user)
    access.set_exp(lifetime=-timedelta(seconds=1))
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    response = anonymous.get("/api/inventory/")

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_refresh_issues_a_working_access_token_after_the_old_one_expired(
    anonymous: APIClient, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # simplejwt copies ACCESS_TOKEN_LIFETIME onto the token class at import, so overriding
    # SIMPLE_JWT has no effect; the class attribute is the setting's live copy.
    with monkeypatch.context() as patch:
        patch.setattr(AccessToken, "lifetime", timedelta(seconds=-1))
        pair = obtain(anonymous, shop.user.email).json()
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert anonymous.get("/api/inventory/").status_code == 401  # born expired

    refreshed = APIClient().post(
        "/api/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json"
    )

    assert refreshed.status_code == 200, refreshed.content
    assert set(refreshed.json()) == {"access"}
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert anonymous.get("/api/inventory/").status_code == 200


@pytest.mark.parametrize("kind", ["access", "garbage", "expired"])
def test_refresh_rejects_anything_but_a_live_refresh_token(
    anonymous: APIClient, shop: Shop, kind: str
) -> None:
    refresh = RefreshToken.for_user(shop.user)
    if kind == "expired":
        refresh.set_exp(lifetime=-timedelta(seconds=1))
    token = {"access": str(refresh.access_token), "garbage": "x.y.z", "expired": str(refresh)}[kind]

    response = anonymous.post("/api/auth/token/refresh/", {"refresh": token}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]


def test_refresh_for_a_deleted_user_is_401_not_500(anonymous: APIClient, shop: Shop) -> None:
    refresh = str(RefreshToken.for_user(shop.user))
    User.objects.filter(pk=shop.user.pk).delete()

    response = anonymous.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")

    assert response.status_code == 401


def test_refresh_without_a_token_is_400(anonymous: APIClient) -> None:
    response = anonymous.post("/api/auth/token/refresh/", {}, format="json")

    assert response.status_code == 400
    assert "refresh" in response.json()["error"]


def test_a_valid_token_costs_one_query_the_user_row(
    api: APIClient, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    api.get("/api/dashboard/stats/")  # fills the tenant's stats cache

    with django_assert_num_queries(1) as captured:
        response = api.get("/api/dashboard/stats/")

    assert response.status_code == 200
    assert "tenants_user" in captured.captured_queries[0]["sql"]


def test_an_invalid_token_costs_no_query(
    anonymous: APIClient, shop: Shop, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    access = AccessToken.for_user(shop.user)
    access.set_exp(lifetime=-timedelta(seconds=1))
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    with django_assert_num_queries(0):
        assert anonymous.get("/api/inventory/").status_code == 401
