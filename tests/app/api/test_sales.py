"""GET /api/sales/ and POST /api/sales/ (checkout through sale_create)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from jewelry.customers.models import Customer, LoyaltyLedgerEntry
from jewelry.inventory.models import Item
from jewelry.sales.models import Sale
from tests.app.api.conftest import bearer_client, objects_without_tenant_id, tenant_ids
from tests.app.factories import Shop, make_item

pytestmark = pytest.mark.django_db
ENVELOPE = frozenset({"count", "next", "previous", "results"})
Checkout = Callable[..., Any]


def body_for(shop: Shop, *quantities: int, customer: bool = True) -> dict[str, Any]:
    """A valid checkout of the first items in the given quantities, paid exactly by card."""
    lines = list(zip(shop.items, quantities, strict=False))
    total = sum((item.price * qty for item, qty in lines), Decimal(0))
    return {
        "customer_id": shop.customers[0].pk if customer else None,
        "terminal_id": shop.terminal.pk,
        "items": [{"item_id": item.pk, "quantity": qty} for item, qty in lines],
        "payments": [{"method": "card", "amount": str(total)}],
    }


def test_checkout_creates_the_sale_and_answers_201_with_it(checkout: Checkout, shop: Shop) -> None:
    first, second = shop.items[0], shop.items[1]

    response = checkout(body_for(shop, 2, 1))

    assert response.status_code == 201, response.content
    sale = response.json()
    total = first.price * 2 + second.price
    assert sale["tenant_id"] == shop.tenant.pk
    assert Decimal(sale["total"]) == total
    assert sale["customer_id"] == shop.customers[0].pk
    assert sale["terminal_id"] == shop.terminal.pk
    assert sale["cashier_id"] == shop.user.pk
    assert sale["loyalty_points_awarded"] == int(total * Decimal("0.1"))
    assert {(line["item_id"], line["quantity"]) for line in sale["lines"]} == {
        (first.pk, 2),
        (second.pk, 1),
    }
    assert [(p["method"], Decimal(p["amount"])) for p in sale["payments"]] == [("card", total)]
    assert tenant_ids(sale) == {shop.tenant.pk}
    assert objects_without_tenant_id(sale, envelope_keys=ENVELOPE) == []


def test_checkout_decrements_stock_and_awards_points(checkout: Checkout, shop: Shop) -> None:
    item = shop.items[0]

    response = checkout(body_for(shop, 3))

    assert response.status_code == 201
    assert Item.unscoped.get(pk=item.pk).quantity == item.quantity - 3
    customer = Customer.unscoped.get(pk=shop.customers[0].pk)
    assert customer.loyalty_points == response.json()["loyalty_points_awarded"] > 0
    assert LoyaltyLedgerEntry.unscoped.filter(customer=customer).count() == 1


def test_checkout_without_customer_or_terminal(checkout: Checkout, shop: Shop) -> None:
    body = body_for(shop, 1, customer=False)
    del body["terminal_id"]

    response = checkout(body)

    assert response.status_code == 201, response.content
    assert response.json()["customer_id"] is None
    assert response.json()["loyalty_points_awarded"] == 0


def test_out_of_stock_is_409_and_changes_nothing(checkout: Checkout, shop: Shop) -> None:
    scarce = make_item(shop, index=50, quantity=1)
    body = {
        "customer_id": None,
        "terminal_id": None,
        "items": [{"item_id": scarce.pk, "quantity": 2}],
        "payments": [{"method": "cash", "amount": str(scarce.price * 2)}],
    }

    response = checkout(body)

    assert response.status_code == 409
    assert response.json()["error"] == "out_of_stock"
    assert response.json()["item_id"] == scarce.pk
    assert Item.unscoped.get(pk=scarce.pk).quantity == 1
    assert not Sale.unscoped.filter(tenant=shop.tenant).exists()


def test_the_last_unit_sells_once(checkout: Checkout, shop: Shop) -> None:
    last = make_item(shop, index=51, quantity=1)
    body = {
        "items": [{"item_id": last.pk, "quantity": 1}],
        "payments": [{"method": "transfer", "amount": str(last.price)}],
    }

    assert checkout(body).status_code == 201
    assert checkout(body).status_code == 409


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        (
            lambda b, o: b.update(items=[{"item_id": o.items[0].pk, "quantity": 1}]),
            400,
            "unknown_item",
        ),
        (lambda b, o: b.update(customer_id=o.customers[0].pk), 400, "unknown_customer"),
        (lambda b, o: b.update(terminal_id=o.terminal.pk), 400, "unknown_terminal"),
        (
            lambda b, o: b.update(payments=[{"method": "card", "amount": "1.00"}]),
            400,
            "payment_mismatch",
        ),
    ],
)
def test_another_shops_ids_are_refused(
    checkout: Checkout, shop: Shop, other_shop: Shop, change: Any, status: int, error: str
) -> None:
    body = body_for(shop, 1)
    change(body, other_shop)

    response = checkout(body)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["message"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"items": []}, "items must not be empty"),
        ({"items": "everything"}, "items must be a list"),
        ({"items": [{"item_id": 1, "quantity": -1}]}, "quantity must be an integer"),
        ({"items": [{"item_id": 1, "quantity": 0}]}, "quantity must be an integer"),
        ({"items": [{"item_id": 1, "quantity": "2"}]}, "quantity must be an integer"),
        ({"items": [{"item_id": 1, "quantity": 10**6}]}, "quantity must be an integer"),
        ({"items": [{"item_id": "1", "quantity": 1}]}, "item_id must be a positive integer"),
        ({"items": [{"item_id": 2**70, "quantity": 1}]}, "item_id must be a positive integer"),
        ({"items": [1, 2]}, "items[0] must be an object"),
        ({"payments": []}, "payments must not be empty"),
        ({"payments": [{"method": "bitcoin", "amount": "1"}]}, "method must be one of"),
        ({"payments": [{"method": "card", "amount": "-5"}]}, "amount must be between"),
        ({"payments": [{"method": "card", "amount": "abc"}]}, "amount must be a decimal"),
        ({"payments": [{"method": "card", "amount": "1.001"}]}, "at most 2 decimal places"),
        ({"payments": [{"method": "card", "amount": "9" * 40}]}, "amount must be between"),
        ({"customer_id": "' OR 1=1 --"}, "customer_id must be a positive integer or null"),
        ({"terminal_id": -3}, "terminal_id must be a positive integer or null"),
    ],
)
def test_malformed_bodies_are_400_with_the_field_named(
    checkout: Checkout, shop: Shop, change: dict[str, Any], needle: str
) -> None:
    body = {**body_for(shop, 1), **change}

    response = checkout(body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert needle in response.json()["message"]
    assert not Sale.unscoped.filter(tenant=shop.tenant).exists()


@pytest.mark.parametrize("raw", ['{"items": [', "[1, 2]", '"text"', "null", '{"a": NaN}'])
def test_non_object_or_broken_json_is_400(api: APIClient, shop: Shop, raw: str) -> None:
    response = api.post("/api/sales/", raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]


def test_a_form_post_is_415(api: APIClient, shop: Shop) -> None:
    response = api.post("/api/sales/", {"items": "1"})  # multipart, not JSON

    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["error"]


def test_checkout_needs_a_token(anonymous: APIClient, shop: Shop) -> None:
    assert anonymous.post("/api/sales/", body_for(shop, 1), format="json").status_code == 401


def test_list_shows_this_shops_sales_newest_first(
    checkout: Checkout, shop: Shop, other_shop: Shop, api: APIClient
) -> None:
    first = checkout(body_for(shop, 1)).json()
    second = checkout(body_for(shop, 1, 1, customer=False)).json()
    other_body = body_for(other_shop, 1)
    assert checkout(other_body, bearer_client(other_shop.user)).status_code == 201

    response = api.get("/api/sales/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [second["id"], first["id"]]
    row = body["results"][1]
    assert row["customer_name"] == shop.customers[0].full_name
    assert row["cashier_email"] == shop.user.email
    assert row["branch_name"] == shop.branch.name
    assert body["results"][0]["customer_name"] is None
    assert tenant_ids(body) == {shop.tenant.pk}
    assert objects_without_tenant_id(body, envelope_keys=ENVELOPE) == []


def test_list_pages_are_validated(api: APIClient, shop: Shop) -> None:
    assert api.get("/api/sales/", {"page": "x"}).status_code == 404
    assert api.get("/api/sales/", {"page_size": "-3"}).status_code == 400
