"""parse_checkout: shapes and types of the checkout body, before any database work."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jewelry.sales.checkout_input import CheckoutInputError, parse_checkout
from jewelry.sales.services import LineRequest, PaymentRequest


def body(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "customer_id": 7,
        "terminal_id": None,
        "items": [{"item_id": 3, "quantity": 2}],
        "payments": [{"method": "cash", "amount": "500.00"}],
    }
    data.update(overrides)
    return data


def test_parses_a_well_formed_body() -> None:
    lines, payments, customer_id, terminal_id = parse_checkout(body())
    assert lines == [LineRequest(item_id=3, quantity=2)]
    assert payments == [PaymentRequest(method="cash", amount=Decimal("500.00"))]
    assert (customer_id, terminal_id) == (7, None)


def test_missing_optional_ids_are_none() -> None:
    data = body()
    del data["customer_id"], data["terminal_id"]
    assert parse_checkout(data)[2:] == (None, None)


@pytest.mark.parametrize("amount", ["12.5", 12, 12.5, Decimal("12.50")])
def test_amount_accepts_strings_and_numbers(amount: object) -> None:
    payments = parse_checkout(body(payments=[{"method": "card", "amount": amount}]))[1]
    assert payments[0].amount == Decimal(str(amount))


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "JSON object"),
        ("items", "JSON object"),
        (body(items=None), "items must be a list"),
        (body(items=[]), "items must not be empty"),
        (body(items=[{"item_id": 1, "quantity": 1}] * 51), "at most 50"),
        (body(items=["x"]), "items[0] must be an object"),
        (body(items=[{"item_id": "3", "quantity": 1}]), "items[0].item_id"),
        (body(items=[{"item_id": True, "quantity": 1}]), "items[0].item_id"),
        (body(items=[{"item_id": 2**63, "quantity": 1}]), "items[0].item_id"),
        (body(items=[{"item_id": -1, "quantity": 1}]), "items[0].item_id"),
        (body(items=[{"item_id": 3, "quantity": -1}]), "items[0].quantity"),
        (body(items=[{"item_id": 3, "quantity": 0}]), "items[0].quantity"),
        (body(items=[{"item_id": 3, "quantity": 1.5}]), "items[0].quantity"),
        (body(items=[{"item_id": 3, "quantity": "2"}]), "items[0].quantity"),
        (body(items=[{"item_id": 3, "quantity": 10**6}]), "items[0].quantity"),
        (body(items=[{"item_id": 3, "quantity": 1}, {"item_id": 3, "quantity": 1}]), "twice"),
        (body(payments={}), "payments must be a list"),
        (body(payments=[]), "payments must not be empty"),
        (body(payments=[{"method": "bitcoin", "amount": "1"}]), "payments[0].method"),
        (body(payments=[{"method": ["cash"], "amount": "1"}]), "payments[0].method"),
        (body(payments=[{"method": "cash", "amount": "abc"}]), "payments[0].amount"),
        (body(payments=[{"method": "cash", "amount": "NaN"}]), "finite"),
        (body(payments=[{"method": "cash", "amount": "Infinity"}]), "finite"),
        (body(payments=[{"method": "cash", "amount": "1.001"}]), "2 decimal places"),
        (body(payments=[{"method": "cash", "amount": "-5"}]), "between 0.01"),
        (body(payments=[{"method": "cash", "amount": "1e20"}]), "between 0.01"),
        (body(payments=[{"method": "cash", "amount": None}]), "payments[0].amount"),
        (body(payments=[{"method": "cash", "amount": False}]), "payments[0].amount"),
        (body(customer_id="1; DROP TABLE sales_sale"), "customer_id"),
        (body(customer_id=0), "customer_id"),
        (body(terminal_id=[1]), "terminal_id"),
    ],
)
def test_rejects_malformed_bodies_with_a_message(data: object, fragment: str) -> None:
    with pytest.raises(CheckoutInputError) as caught:
        parse_checkout(data)
    assert fragment in caught.value.message
    assert caught.value.as_dict() == {"error": "invalid_input", "message": caught.value.message}
    assert isinstance(caught.value, ValueError)
