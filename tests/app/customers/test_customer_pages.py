"""Customer pages: searchable paginated list, profile with points, ledger and purchases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from jewelry.customers.models import Customer
from tests.app.factories import Shop

pytestmark = pytest.mark.django_db


def customer_rows(response) -> int:
    return response.content.decode().count("data-customer-id=")


def add_customers(shop: Shop, count: int) -> None:
    Customer.unscoped.bulk_create(
        Customer(
            tenant=shop.tenant,
            first_name=f"Bulk{i}",
            last_name=f"Buyer{i:03d}",
            email=f"bulk{i}@example.test",
            tier=shop.tiers["Bronze"],
        )
        for i in range(count)
    )


def test_list_shows_only_the_shops_customers(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    response = shop_client.get("/customers/")
    assert response.status_code == 200
    body = response.content.decode()
    assert customer_rows(response) == len(shop.customers)
    for customer in shop.customers:
        assert customer.email in body
        assert f'href="/customers/{customer.pk}/"' in body
    for customer in other_shop.customers:
        assert customer.email not in body


def test_search_by_name_and_email(shop_client: Client, shop: Shop, other_shop: Shop) -> None:
    target = shop.customers[1]
    by_email = shop_client.get("/customers/", {"q": target.email.upper()})
    assert customer_rows(by_email) == 1
    assert target.email in by_email.content.decode()
    by_last_name = shop_client.get("/customers/", {"q": target.last_name})
    assert customer_rows(by_last_name) == 1
    # The other shop's customer is not found by its exact e-mail.
    foreign = shop_client.get("/customers/", {"q": other_shop.customers[0].email})
    assert customer_rows(foreign) == 0


def test_list_is_paginated_and_a_page_beyond_the_end_shows_the_last(
    shop_client: Client, shop: Shop
) -> None:
    add_customers(shop, 27)  # 30 in all
    assert customer_rows(shop_client.get("/customers/")) == 25
    last = shop_client.get("/customers/", {"page": "10000000000000000000"})
    assert last.status_code == 200
    assert customer_rows(last) == 5
    assert "page 2 of 2 (30 in all)" in last.content.decode()


@pytest.mark.parametrize(
    "params", [{"page": "one"}, {"page": "0"}, {"q": "a" * 101}, {"q": "nul\x00"}]
)
def test_invalid_query_values_are_a_400(shop_client: Client, shop: Shop, params: dict) -> None:
    response = shop_client.get("/customers/", params)
    assert response.status_code == 400
    assert "Invalid query parameter." in response.content.decode()


@pytest.mark.parametrize("q", ["' OR 1=1 --", "%", "_", "Robert'); DROP TABLE customers;--"])
def test_sql_ish_searches_match_literally(shop_client: Client, shop: Shop, q: str) -> None:
    response = shop_client.get("/customers/", {"q": q})
    assert response.status_code == 200
    assert customer_rows(response) == 0


def test_profile_shows_tier_points_ledger_and_purchases(
    shop_client: Client, shop: Shop, sell: Callable
) -> None:
    customer = shop.customers[0]
    item = shop.items[3]  # price 253.00: 25 points per unit at one point per 10
    sale = sell(shop, item, quantity=2, customer=customer)
    customer.refresh_from_db()
    assert customer.loyalty_points == sale.loyalty_points_awarded == 50

    response = shop_client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert customer.full_name in body
    assert "Bronze" in body
    assert '<td class="num" id="loyalty-points">50</td>' in body
    assert sale.number in body
    assert f"2 \u00d7 {item.name}" in body  # multiplication sign
    assert str(sale.total) in body
    assert "+50" in body  # the ledger entry
    assert "purchase" in body


def test_profile_of_a_customer_without_purchases(shop_client: Client, shop: Shop) -> None:
    body = shop_client.get(f"/customers/{shop.customers[2].pk}/").content.decode()
    assert "No purchases yet." in body
    assert "No points yet." in body


@pytest.mark.parametrize("which", ["foreign", "unknown", "huge"])
def test_profile_outside_the_shop_is_404(shop_client: Client, other_shop: Shop, which: str) -> None:
    customer_id = {"foreign": other_shop.customers[0].pk, "unknown": 10**9, "huge": 10**25}[which]
    assert shop_client.get(f"/customers/{customer_id}/").status_code == 404


def test_list_query_count_is_constant(
    shop_client: Client, shop: Shop, django_assert_num_queries
) -> None:
    add_customers(shop, 30)
    # user, tenant (header), count, page with the tier joined in
    with django_assert_num_queries(4):
        response = shop_client.get("/customers/")
    assert customer_rows(response) == 25


def test_profile_query_count_does_not_grow_with_purchases(
    shop_client: Client, shop: Shop, sell: Callable, django_assert_num_queries
) -> None:
    customer = shop.customers[0]
    for item in shop.items:
        sell(shop, item, customer=customer)
    # user, tenant, customer+tier, ledger, purchases, their lines, the lines' items
    with django_assert_num_queries(7):
        response = shop_client.get(f"/customers/{customer.pk}/")
    assert response.content.decode().count("data-sale-id=") == len(shop.items)
