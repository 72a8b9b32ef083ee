"""GET /api/customers/?search= and /api/customers/<id>/."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from jewelry.core.tenancy import tenant_context
from jewelry.sales.services import LineRequest, PaymentRequest, sale_create
from tests.app.api.conftest import objects_without_tenant_id, tenant_ids
from tests.app.factories import Shop

pytestmark = pytest.mark.django_db
ENVELOPE = frozenset({"count", "next", "previous", "results"})


def test_list_is_this_shops_customers_only(api: APIClient, shop: Shop, other_shop: Shop) -> None:
    response = api.get("/api/customers/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(shop.customers)
    assert {row["id"] for row in body["results"]} == {c.pk for c in shop.customers}
    assert tenant_ids(body) == {shop.tenant.pk}
    assert objects_without_tenant_id(body, envelope_keys=ENVELOPE) == []
    row = body["results"][0]
    assert row["tier_name"] == "Bronze"
    assert row["full_name"] == f"{row['first_name']} {row['last_name']}"


def test_search_matches_last_name_and_email(api: APIClient, shop: Shop, other_shop: Shop) -> None:
    customer = shop.customers[1]

    by_name = api.get("/api/customers/", {"search": customer.last_name.upper()}).json()
    by_email = api.get("/api/customers/", {"search": customer.email}).json()
    # The other shop's customers share the e-mail pattern; they must not match.
    shared = api.get("/api/customers/", {"search": "customer0@"}).json()

    assert [row["id"] for row in by_name["results"]] == [customer.pk]
    assert [row["id"] for row in by_email["results"]] == [customer.pk]
    assert [row["id"] for row in shared["results"]] == [shop.customers[0].pk]


@pytest.mark.parametrize(
    ("search", "status"), [("' OR ''='", 200), ("x" * 101, 400), ("a\x00", 400)]
)
def test_search_input_is_bounded(api: APIClient, shop: Shop, search: str, status: int) -> None:
    response = api.get("/api/customers/", {"search": search})

    assert response.status_code == status
    if status == 200:
        assert response.json()["count"] == 0
    else:
        assert "search" in response.json()["error"]


def test_detail_has_points_tier_and_recent_sales(api: APIClient, shop: Shop) -> None:
    customer = shop.customers[0]
    item = shop.items[0]
    with tenant_context(shop.tenant):
        sale = sale_create(
            cashier=shop.user,
            lines=[LineRequest(item_id=item.pk, quantity=2)],
            payments=[PaymentRequest(method="card", amount=item.price * 2)],
            customer_id=customer.pk,
        )

    response = api.get(f"/api/customers/{customer.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == customer.pk
    assert body["tenant_id"] == shop.tenant.pk
    assert body["loyalty_points"] == int(item.price * 2 * Decimal("0.1"))
    assert [s["number"] for s in body["recent_sales"]] == [sale.number]
    assert tenant_ids(body) == {shop.tenant.pk}
    assert objects_without_tenant_id(body, envelope_keys=ENVELOPE) == []


def test_detail_of_another_shops_customer_is_404(
    api: APIClient, shop: Shop, other_shop: Shop
) -> None:
    response = api.get(f"/api/customers/{other_shop.customers[0].pk}/")

    assert response.status_code == 404
    assert response.json()["error"] == "no such customer in this shop"
