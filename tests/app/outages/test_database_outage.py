"""PgBouncer down: requests fail fast with their reason (503), and serve again by themselves.

The app runs under gunicorn, as in the lab, on a private PgBouncer (conftest) in front of the
harness's PostgreSQL; the test kills PgBouncer and starts it again on the same port.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from tests.app.factories import make_shop
from tests.app.outages.conftest import Restartable
from tests.harness.live_app import LiveApp, start_live_app

pytestmark = [pytest.mark.slow]

FAST_FAILURE_S = 4.0  # the app's connect_timeout is 5 s: a request that waited on it is slow
RECOVERY_LIMIT_S = 10.0  # the bound: serving again within 10 s of the database


@pytest.fixture
def app_on_private_pgbouncer(
    transactional_db: None, private_pgbouncer: Restartable, tmp_path: Path
) -> Iterator[LiveApp]:
    app = start_live_app(
        tmp_path,
        database_name=connection.settings_dict["NAME"],
        env={"DATABASE_PORT": str(private_pgbouncer.port)},
    )
    yield app
    app.stop()


def timed(
    app: LiveApp, path: str, token: str = "", session: str = ""
) -> tuple[int, bytes, dict[str, str], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {"Cookie": f"sessionid={session}"}
    request = urllib.request.Request(app.url + path, headers=headers)  # noqa: S310 - loopback
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            status, body, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), dict(error.headers)
    return status, body, headers, time.monotonic() - began


def dependency_errors(app: LiveApp) -> float:
    _, body = app.get("/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith('jewelry_dependency_errors_total{dependency="database"'):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_requests_fail_fast_with_their_reason_and_the_app_recovers_by_itself(
    app_on_private_pgbouncer: LiveApp, private_pgbouncer: Restartable
) -> None:
    app = app_on_private_pgbouncer
    shop = make_shop(items=3, customers=1)
    token = str(RefreshToken.for_user(shop.user).access_token)
    browser = Client()
    browser.force_login(shop.user)  # a session the app finds in Redis, so only the user lookup
    session = browser.cookies["sessionid"].value  # needs the database
    assert timed(app, "/dashboard/", session=session)[0] == 200
    assert timed(app, "/api/inventory/", token)[0] == 200

    private_pgbouncer.stop()
    for _ in range(3):  # every gunicorn worker and thread meets the outage, none hangs on it
        status, body, headers, seconds = timed(app, "/api/inventory/", token)
        assert status == 503, body
        assert json.loads(body)["error"].startswith("database unavailable")
        assert headers["Retry-After"] == "5"
        assert seconds < FAST_FAILURE_S
    page_status, page_body, _, _ = timed(app, "/dashboard/", session=session)
    assert page_status == 503
    assert page_body.decode().startswith("database unavailable")
    assert dependency_errors(app) >= 4

    private_pgbouncer.start()
    back = time.monotonic()
    while timed(app, "/api/inventory/", token)[0] != 200:
        assert time.monotonic() - back < RECOVERY_LIMIT_S, "the app did not serve again in 10 s"
        time.sleep(0.1)
    for _ in range(4):  # and keeps serving: no worker is left holding a dead connection
        assert timed(app, "/api/inventory/", token)[0] == 200
