"""Sales pages: the paginated list and one sale with its lines and payments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from tests.app.factories import Shop

pytestmark = pytest.mark.django_db

# Session user, header tenant, paginator count, the page (branch, cashier, customer joined).
SALE_LIST_QUERIES = 4


def sale_rows(response) -> int:
    return response.content.decode().count("data-sale-id=")


def test_list_shows_only_the_shops_sales_newest_first(
    shop_client: Client, shop: Shop, other_shop: Shop, sell: Callable
) -> None:
    older = sell(shop, shop.items[0], customer=shop.customers[0])
    newer = sell(shop, shop.items[1])
    foreign = sell(other_shop, other_shop.items[0])
    response = shop_client.get("/sales/")
    assert response.status_code == 200
    body = response.content.decode()
    assert sale_rows(response) == 2
    assert body.index(newer.number) < body.index(older.number)
    assert foreign.number not in body
    assert shop.customers[0].full_name in body
    assert "walk-in" in body
    assert shop.user.email in body


def test_empty_list(shop_client: Client, shop: Shop) -> None:
    response = shop_client.get("/sales/")
    assert response.status_code == 200
    assert "No sales yet." in response.content.decode()


@pytest.mark.parametrize("page", ["x", "0", "-1", "1e3", "9" * 5000])
def test_bad_page_is_a_400(shop_client: Client, shop: Shop, page: str) -> None:
    response = shop_client.get("/sales/", {"page": page})
    assert response.status_code == 400
    assert "page:" in response.content.decode()


def test_list_is_paginated_with_a_constant_query_count(
    shop_client: Client, shop: Shop, sell: Callable, django_assert_num_queries
) -> None:
    for i in range(27):
        sell(shop, shop.items[i % len(shop.items)], customer=shop.customers[i % 3])
    with django_assert_num_queries(SALE_LIST_QUERIES):
        first = shop_client.get("/sales/")
    assert sale_rows(first) == 25
    with django_assert_num_queries(SALE_LIST_QUERIES):
        beyond = shop_client.get("/sales/", {"page": "123456789012345678901234567890"})
    assert sale_rows(beyond) == 2
    assert "page 2 of 2 (27 in all)" in beyond.content.decode()


def test_detail_shows_lines_and_payments(shop_client: Client, shop: Shop, sell: Callable) -> None:
    item = shop.items[2]
    sale = sell(shop, item, quantity=3, customer=shop.customers[1])
    response = shop_client.get(f"/sales/{sale.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert sale.number in body
    assert item.sku in body
    assert item.name in body
    assert f'<td class="num" id="sale-total">{sale.total}</td>' in body
    assert "Card" in body
    assert shop.terminal.code in body
    assert shop.customers[1].full_name in body


@pytest.mark.parametrize("which", ["foreign", "unknown", "huge"])
def test_detail_outside_the_shop_is_404(
    shop_client: Client, other_shop: Shop, sell: Callable, which: str
) -> None:
    sale_id = {
        "foreign": lambda: sell(other_shop, other_shop.items[0]).pk,
        "unknown": lambda: 10**9,
        "huge": lambda: 10**25,
    }[which]()
    assert shop_client.get(f"/sales/{sale_id}/").status_code == 404


def test_detail_query_count(
    shop_client: Client, shop: Shop, sell: Callable, django_assert_num_queries
) -> None:
    sale = sell(shop, shop.items[0], customer=shop.customers[0])
    # user, tenant, sale (+branch, terminal, cashier, customer), lines, lines' items, payments
    with django_assert_num_queries(6):
        shop_client.get(f"/sales/{sale.pk}/")
