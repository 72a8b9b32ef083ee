"""GET /api/dashboard/stats/: the tenant's aggregates, cached per tenant."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.app.api.conftest import bearer_client
from tests.app.factories import Shop

pytestmark = pytest.mark.django_db


def test_stats_describe_this_shop_only(api: APIClient, shop: Shop, other_shop: Shop) -> None:
    response = api.get("/api/dashboard/stats/")

    assert response.status_code == 200
    body = response.json()
    assert body["tenant_id"] == shop.tenant.pk
    assert body["inventory_items"] == len(shop.items)
    assert body["inventory_units"] == sum(item.quantity for item in shop.items)
    assert body["customers"] == len(shop.customers)
    assert body["sales_today"] == 0
    assert body["revenue_today"] == "0.00"


def test_each_shop_gets_its_own_cached_stats(shop: Shop, other_shop: Shop) -> None:
    first = bearer_client(shop.user).get("/api/dashboard/stats/").json()
    second = bearer_client(other_shop.user).get("/api/dashboard/stats/").json()

    assert first["tenant_id"] == shop.tenant.pk
    assert second["tenant_id"] == other_shop.tenant.pk
    assert second["inventory_items"] == len(other_shop.items)
