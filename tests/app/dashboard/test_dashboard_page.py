"""Dashboard: the shop's figures, cached per tenant in Redis (or not, with cache_off)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client, override_settings

from tests.app.factories import Shop, make_item

pytestmark = pytest.mark.django_db

# The session's user and the header's tenant name: all a warm-cache dashboard costs.
PAGE_QUERIES = 2
# sales today, sales in 30 days, stock aggregate, low-stock count, customer count.
AGGREGATE_QUERIES = 5


def figure(body: str, element_id: str) -> str:
    marker = f'id="{element_id}">'
    start = body.index(marker) + len(marker)
    return body[start : body.index("<", start)]


def test_dashboard_shows_the_shops_figures(
    shop_client: Client, shop: Shop, other_shop: Shop, sell: Callable
) -> None:
    sale = sell(shop, shop.items[0], quantity=2, customer=shop.customers[0])
    make_item(shop, index=40, quantity=1)  # low stock
    sell(other_shop, other_shop.items[0])
    response = shop_client.get("/dashboard/")
    assert response.status_code == 200
    body = response.content.decode()
    assert figure(body, "sales-today") == "1"
    assert figure(body, "revenue-today") == str(sale.total)
    assert figure(body, "sales-30d") == "1"
    assert figure(body, "inventory-items") == str(len(shop.items) + 1)
    assert figure(body, "inventory-units") == str(10 * len(shop.items) - 2 + 1)
    assert figure(body, "low-stock-items") == "1"
    assert figure(body, "customers") == str(len(shop.customers))
    assert f'data-tenant-id="{shop.tenant.pk}"' in body


def test_each_shop_sees_its_own_cached_figures(
    client: Client, shop: Shop, other_shop: Shop
) -> None:
    client.force_login(shop.user)
    mine = figure(client.get("/dashboard/").content.decode(), "inventory-items")
    client.force_login(other_shop.user)
    theirs = figure(client.get("/dashboard/").content.decode(), "inventory-items")
    assert (mine, theirs) == (str(len(shop.items)), str(len(other_shop.items)))


def test_warm_cache_makes_no_aggregate_queries(
    shop_client: Client, shop: Shop, django_assert_num_queries
) -> None:
    with django_assert_num_queries(PAGE_QUERIES + AGGREGATE_QUERIES):
        shop_client.get("/dashboard/")  # cold: computes and caches
    with django_assert_num_queries(PAGE_QUERIES):
        response = shop_client.get("/dashboard/")
    assert figure(response.content.decode(), "inventory-items") == str(len(shop.items))


@override_settings(LAB_FAULTS=frozenset({"cache_off"}))
def test_cache_off_fault_recomputes_every_time(
    shop_client: Client, shop: Shop, django_assert_num_queries
) -> None:
    for _ in range(2):
        with django_assert_num_queries(PAGE_QUERIES + AGGREGATE_QUERIES):
            shop_client.get("/dashboard/")
