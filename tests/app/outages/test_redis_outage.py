"""Redis stopped: nobody is signed out, pages are served uncached, sign-in stays open.

Played on a private Redis (conftest) the app's cache points at for the test. The same test
with Django's plain cache session engine (the lab's engine before) shows what it guards
against: there, a Redis outage signs everybody out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client, override_settings

from tests.app.factories import PASSWORD, Shop
from tests.app.outages.conftest import Restartable

pytestmark = pytest.mark.django_db

SLOW_REQUEST_S = 3.0  # a request that waits on a dead Redis instead of bypassing it


@pytest.fixture
def app_on_private_redis(private_redis: Restartable) -> Iterator[Restartable]:
    caches = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{private_redis.port}/0",
        }
    }
    with override_settings(CACHES=caches):
        yield private_redis


def timed_get(client: Client, path: str):  # type: ignore[no-untyped-def]
    began = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - began


def body_tenant(response) -> str:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    marker = 'data-tenant-id="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.mark.parametrize(
    ("engine", "stays_signed_in"),
    [
        ("django.contrib.sessions.backends.cached_db", True),  # the lab's engine
        ("django.contrib.sessions.backends.cache", False),  # the defect: sessions only in Redis
    ],
)
def test_a_redis_outage_signs_nobody_out_only_with_sessions_in_the_database(
    app_on_private_redis: Restartable, shop: Shop, engine: str, stays_signed_in: bool
) -> None:
    with override_settings(SESSION_ENGINE=engine):
        client = Client()
        assert (
            client.post(
                "/accounts/login/", {"username": shop.user.email, "password": PASSWORD}
            ).status_code
            == 302
        )
        assert body_tenant(client.get("/dashboard/")) == str(shop.tenant.pk)

        app_on_private_redis.stop()
        during, seconds = timed_get(client, "/dashboard/")
        # Back, but empty: the lab's Redis keeps nothing on disk.
        app_on_private_redis.start()
        after = client.get("/dashboard/")

    assert seconds < SLOW_REQUEST_S
    for response in (during, after):
        if stays_signed_in:
            assert response.status_code == 200
            assert body_tenant(response) == str(shop.tenant.pk)
        else:
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/")


def test_while_redis_is_down_pages_are_served_uncached_and_health_says_so(
    app_on_private_redis: Restartable, shop: Shop
) -> None:
    client = Client()
    client.post("/accounts/login/", {"username": shop.user.email, "password": PASSWORD})
    assert client.get("/dashboard/").status_code == 200  # warms the dashboard cache

    app_on_private_redis.stop()
    for path in ("/dashboard/", "/inventory/", "/sales/", "/customers/"):
        response, seconds = timed_get(client, path)
        assert response.status_code == 200, path
        assert body_tenant(response) == str(shop.tenant.pk), path
        assert seconds < SLOW_REQUEST_S, f"{path} took {seconds:.1f} s with Redis down"
    health = client.get("/healthz")
    assert health.status_code == 503
    assert set(health.json()["problems"]) == {"redis"}

    app_on_private_redis.start()
    assert client.get("/healthz").status_code == 200
    assert client.get("/dashboard/").status_code == 200
    # Recovered by itself: the cache is written again (the dashboard's figures and the session).
    assert cache._cache.get_client(write=False).dbsize() > 0


def test_sign_in_works_and_the_throttle_fails_open_while_redis_is_down(
    app_on_private_redis: Restartable, shop: Shop
) -> None:
    app_on_private_redis.stop()
    client = Client()
    limit = settings.LOGIN_THROTTLE_LIMIT
    for _ in range(limit + 1):  # past the limit: no counter can be kept, so none blocks
        wrong = client.post("/accounts/login/", {"username": shop.user.email, "password": "x"})
        assert wrong.status_code == 200
    right = client.post("/accounts/login/", {"username": shop.user.email, "password": PASSWORD})
    assert right.status_code == 302
    assert body_tenant(client.get("/dashboard/")) == str(shop.tenant.pk)

    # Both ways: with Redis back, the same guesses are throttled again.
    app_on_private_redis.start()
    for _ in range(limit):
        client.post("/accounts/login/", {"username": shop.user.email, "password": "x"})
    blocked = client.post("/accounts/login/", {"username": shop.user.email, "password": PASSWORD})
    assert blocked.status_code == 429
