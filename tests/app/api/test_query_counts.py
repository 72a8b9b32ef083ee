"""Query counts per API request, pinned: constant in the data size and page size.

Every authenticated request costs one query for the user row (simplejwt checks the token by
signature alone); a list adds COUNT + one page query. The `n_plus_one` fault must make the
inventory list's count grow with the page size: the lab's analysis is validated against it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from jewelry.core.tenancy import tenant_context
from jewelry.sales.services import LineRequest, PaymentRequest, sale_create
from tests.app.factories import Shop, make_item

pytestmark = pytest.mark.django_db

USER_ROW = 1
LIST = USER_ROW + 2  # COUNT(*) + the page


def sell(shop: Shop, times: int) -> None:
    with tenant_context(shop.tenant):
        for index in range(times):
            item = shop.items[index % len(shop.items)]
            sale_create(
                cashier=shop.user,
                lines=[LineRequest(item_id=item.pk, quantity=1)],
                payments=[PaymentRequest(method="cash", amount=item.price)],
                customer_id=shop.customers[index % len(shop.customers)].pk,
            )


@pytest.mark.parametrize("page_size", [2, 6, 25])
def test_inventory_list_is_three_queries_at_any_page_size(
    api: APIClient, shop: Shop, page_size: int, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    for index in range(6, 30):
        make_item(shop, index=index)

    with django_assert_num_queries(LIST):
        response = api.get("/api/inventory/", {"page_size": page_size})

    assert len(response.json()["results"]) == page_size


def test_filtered_inventory_list_is_still_three_queries(
    api: APIClient, shop: Shop, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    item = shop.items[2]
    params = {"karat": item.karat, "search": "ring", "category": item.category_id}

    with django_assert_num_queries(LIST):
        response = api.get("/api/inventory/", params)

    assert [row["id"] for row in response.json()["results"]] == [item.pk]


@override_settings(LAB_FAULTS=frozenset({"n_plus_one"}))
@pytest.mark.parametrize("page_size", [2, 6])
def test_n_plus_one_fault_adds_two_queries_per_row(
    api: APIClient, shop: Shop, page_size: int, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    # Category and branch, fetched one row at a time: the count grows with the page.
    with django_assert_num_queries(LIST + 2 * page_size):
        response = api.get("/api/inventory/", {"page_size": page_size})

    assert len(response.json()["results"]) == page_size


def test_inventory_detail_is_two_queries(
    api: APIClient, shop: Shop, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(USER_ROW + 1):
        assert api.get(f"/api/inventory/{shop.items[0].pk}/").status_code == 200


@pytest.mark.parametrize("sales", [1, 8])
def test_sales_list_is_three_queries_however_many_sales(
    api: APIClient, shop: Shop, sales: int, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    sell(shop, sales)

    with django_assert_num_queries(LIST):
        response = api.get("/api/sales/")

    assert response.json()["count"] == sales
    assert all(row["customer_name"] for row in response.json()["results"])


def test_customers_list_is_three_queries(
    api: APIClient, shop: Shop, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(LIST):
        response = api.get("/api/customers/", {"search": "last"})

    assert response.json()["count"] == len(shop.customers)


@pytest.mark.parametrize("sales", [0, 6])
def test_customer_detail_is_three_queries_however_many_purchases(
    api: APIClient, shop: Shop, sales: int, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    sell(shop, sales)
    customer = shop.customers[0]

    with django_assert_num_queries(USER_ROW + 2):  # the customer + their recent sales
        response = api.get(f"/api/customers/{customer.pk}/")

    assert len(response.json()["recent_sales"]) == (sales + 2) // 3


DASHBOARD_AGGREGATES = 5  # sales today, sales 30 days, stock, low stock, customers


def test_dashboard_stats_cost_the_aggregates_once_then_only_the_user_row(
    api: APIClient, shop: Shop, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    sell(shop, 3)

    with django_assert_num_queries(USER_ROW + DASHBOARD_AGGREGATES):
        first = api.get("/api/dashboard/stats/").json()
    with django_assert_num_queries(USER_ROW):
        second = api.get("/api/dashboard/stats/").json()

    assert first == second
    assert first["sales_today"] == 3
    assert Decimal(first["revenue_today"]) == sum(item.price for item in shop.items[:3])


@override_settings(LAB_FAULTS=frozenset({"cache_off"}))
def test_cache_off_fault_recomputes_the_dashboard_every_time(
    api: APIClient, shop: Shop, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        with django_assert_num_queries(USER_ROW + DASHBOARD_AGGREGATES):
            assert api.get("/api/dashboard/stats/").status_code == 200
