"""POST /pos/checkout/: totals, stock, loyalty, CSRF, and clear 4xx answers to bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.test import Client

from jewelry.customers.models import Customer, LoyaltyLedgerEntry
from jewelry.inventory.models import Item
from jewelry.sales.models import Payment, Sale, SaleLine
from tests.app.factories import Shop, make_item


def checkout(client: Client, body: object, **headers: str) -> Any:
    payload = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        "/pos/checkout/", data=payload, content_type="application/json", headers=headers
    )


def cart(shop: Shop, *quantities: int, customer: Customer | None = None) -> dict[str, Any]:
    lines = list(zip(shop.items, quantities, strict=False))
    total = sum((item.price * qty for item, qty in lines), Decimal(0))
    return {
        "customer_id": customer.pk if customer else None,
        "terminal_id": shop.terminal.pk,
        "items": [{"item_id": item.pk, "quantity": qty} for item, qty in lines],
        "payments": [{"method": "card", "amount": str(total)}],
    }


def test_checkout_records_the_sale_decrements_stock_and_awards_points(
    shop_client: Client, shop: Shop
) -> None:
    customer = shop.customers[0]
    first, second = shop.items[0], shop.items[1]
    expected_total = first.price * 2 + second.price * 1  # 250*2 + 251 = 751.00
    body = cart(shop, 2, 1, customer=customer)
    body["payments"] = [
        {"method": "cash", "amount": "700.00"},
        {"method": "card", "amount": str(expected_total - 700)},
    ]

    response = checkout(shop_client, body)

    assert response.status_code == 201, response.content
    sale = response.json()
    assert sale["total"] == str(expected_total) == "751.00"
    assert sale["tenant_id"] == shop.tenant.pk
    assert sale["number"].startswith("S-")
    assert sale["customer_id"] == customer.pk
    assert sale["terminal_id"] == shop.terminal.pk
    assert sale["loyalty_points_awarded"] == 75  # one point per 10 spent, rounded down
    assert [(line["item_id"], line["quantity"], line["line_total"]) for line in sale["lines"]] == [
        (first.pk, 2, "500.00"),
        (second.pk, 1, "251.00"),
    ]
    assert sorted((p["method"], p["amount"]) for p in sale["payments"]) == [
        ("card", "51.00"),
        ("cash", "700.00"),
    ]

    stored = Sale.unscoped.get(pk=sale["id"])
    assert stored.tenant_id == shop.tenant.pk
    assert stored.cashier_id == shop.user.pk
    assert stored.total == expected_total
    assert SaleLine.unscoped.filter(sale=stored).count() == 2
    assert Payment.unscoped.filter(sale=stored).count() == 2
    assert Item.unscoped.get(pk=first.pk).quantity == first.quantity - 2
    assert Item.unscoped.get(pk=second.pk).quantity == second.quantity - 1
    customer.refresh_from_db()
    assert customer.loyalty_points == 75
    ledger = LoyaltyLedgerEntry.unscoped.get(customer=customer)
    assert (ledger.points, ledger.sale_id, ledger.tenant_id) == (75, stored.pk, shop.tenant.pk)


def test_walk_in_sale_awards_no_points(shop_client: Client, shop: Shop) -> None:
    response = checkout(shop_client, cart(shop, 1))
    assert response.status_code == 201
    assert response.json()["loyalty_points_awarded"] == 0
    assert response.json()["customer_id"] is None
    assert not LoyaltyLedgerEntry.unscoped.filter(tenant=shop.tenant).exists()


def test_a_big_purchase_moves_the_customer_up_a_tier(shop_client: Client, shop: Shop) -> None:
    customer = shop.customers[0]
    necklace = make_item(shop, index=50, price=Decimal("2500.00"), quantity=5)
    body = {
        "customer_id": customer.pk,
        "items": [{"item_id": necklace.pk, "quantity": 2}],
        "payments": [{"method": "transfer", "amount": "5000.00"}],
    }
    response = checkout(shop_client, body)
    assert response.status_code == 201, response.content
    assert response.json()["loyalty_points_awarded"] == 500
    customer.refresh_from_db()
    assert customer.loyalty_points == 500
    assert customer.tier_id == shop.tiers["Silver"].pk


def test_payment_mismatch_is_400_and_changes_nothing(shop_client: Client, shop: Shop) -> None:
    body = cart(shop, 1)
    body["payments"] = [{"method": "cash", "amount": "1.00"}]
    response = checkout(shop_client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "payment_mismatch"
    assert "250.00" in response.json()["message"]
    assert Item.unscoped.get(pk=shop.items[0].pk).quantity == shop.items[0].quantity
    assert not Sale.unscoped.filter(tenant=shop.tenant).exists()


def test_out_of_stock_is_409_with_the_item(shop_client: Client, shop: Shop) -> None:
    last_one = make_item(shop, index=60, quantity=1)
    body = {
        "items": [{"item_id": last_one.pk, "quantity": 2}],
        "payments": [{"method": "cash", "amount": str(last_one.price * 2)}],
    }
    response = checkout(shop_client, body)
    assert response.status_code == 409
    assert response.json()["error"] == "out_of_stock"
    assert response.json()["item_id"] == last_one.pk
    assert Item.unscoped.get(pk=last_one.pk).quantity == 1


def test_another_shops_ids_are_refused_like_unknown_ones(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    foreign_item = other_shop.items[0]
    body = {
        "items": [{"item_id": foreign_item.pk, "quantity": 1}],
        "payments": [{"method": "cash", "amount": str(foreign_item.price)}],
    }
    response = checkout(shop_client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_item"

    body = cart(shop, 1, customer=other_shop.customers[0])
    response = checkout(shop_client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_customer"

    body = cart(shop, 1)
    body["terminal_id"] = other_shop.terminal.pk
    response = checkout(shop_client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_terminal"

    assert Item.unscoped.get(pk=foreign_item.pk).quantity == foreign_item.quantity
    assert not Sale.unscoped.exists()


def test_checkout_requires_the_csrf_header(shop: Shop) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(shop.user)
    page = client.get("/pos/")
    token = page.cookies["csrftoken"].value

    refused = checkout(client, cart(shop, 1))
    assert refused.status_code == 403
    accepted = checkout(client, cart(shop, 1), X_CSRFToken=token)
    assert accepted.status_code == 201, accepted.content


def test_checkout_requires_login(client: Client, shop: Shop) -> None:
    response = checkout(client, cart(shop, 1))
    assert response.status_code == 401
    assert not Sale.unscoped.exists()


ONE = [{"item_id": 1, "quantity": 1}]
CASH = [{"method": "cash", "amount": "1"}]
NAN_BODY = '{"items": [{"item_id": 1, "quantity": 1}], "payments": [{"amount": NaN}]}'
BAD_BODIES: list[tuple[str, object]] = [
    ("not json", "{items: ["),
    ("json array", "[]"),
    ("json string", '"sell"'),
    ("not utf-8", b"\xff\xfe{}"),
    ("NaN amount", NAN_BODY),
    ("deep nesting", "[" * 100_000 + "]" * 100_000),
    ("empty body", ""),
    ("no items", {"payments": CASH}),
    ("empty items", {"items": [], "payments": CASH}),
    ("negative quantity", {"items": [{"item_id": 1, "quantity": -3}], "payments": CASH}),
    ("string quantity", {"items": [{"item_id": 1, "quantity": "2"}], "payments": CASH}),
    ("float id", {"items": [{"item_id": 1.5, "quantity": 1}], "payments": CASH}),
    ("huge id", {"items": [{"item_id": 10**30, "quantity": 1}], "payments": CASH}),
    ("sql id", {"items": [{"item_id": "1 OR 1=1", "quantity": 1}], "payments": CASH}),
    ("long method", {"items": ONE, "payments": [{"method": "x" * 500, "amount": "1"}]}),
    ("huge amount", {"items": ONE, "payments": [{"method": "cash", "amount": "9" * 40}]}),
    ("huge customer id", {"customer_id": 2**64, "items": ONE, "payments": CASH}),
    ("unknown item", {"items": [{"item_id": 2**62, "quantity": 1}], "payments": CASH}),
    ("unknown customer", {"customer_id": 2**62, "items": ONE, "payments": CASH}),
]


def test_bad_input_is_a_clear_4xx(shop_client: Client, shop: Shop) -> None:
    # One signed-in shop for every case: creating a user (Argon2) per case would dominate.
    for case, body in BAD_BODIES:
        response = checkout(shop_client, body)
        assert 400 <= response.status_code < 500, (case, response.status_code, response.content)
        answer = response.json()
        assert answer["error"], case
        assert answer["message"], case
    assert not Sale.unscoped.exists()
