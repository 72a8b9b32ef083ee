"""The POS page and its search endpoints: content, tenant scoping, bad input, query counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client, override_settings

from jewelry.customers.models import Customer
from jewelry.inventory.models import Item
from jewelry.tenants.models import User
from tests.app.factories import Shop, make_item


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()["results"]


def test_pos_page_shows_the_shops_products_and_terminals(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    response = shop_client.get("/pos/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-tenant-id="{shop.tenant.pk}"' in page
    assert shop.items[0].sku in page
    assert shop.terminal.code in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'id="checkout"' in page
    for item in other_shop.items:
        assert item.sku not in page
    assert other_shop.terminal.code not in page


def test_pos_requires_login(client: Client, shop: Shop) -> None:
    page = client.get("/pos/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    for url in ("/pos/search/?q=a", "/pos/customers/?q=a"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["error"] == "not_authenticated"


def test_search_matches_name_and_sku_of_own_shop_only(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    found = results(shop_client.get("/pos/search/", {"q": "gold ring"}))
    assert {row["id"] for row in found} == {item.pk for item in shop.items}
    assert all(row["tenant_id"] == shop.tenant.pk for row in found)
    item = shop.items[2]
    by_sku = results(shop_client.get("/pos/search/", {"q": item.sku}))
    assert by_sku == [
        {
            "id": item.pk,
            "sku": item.sku,
            "name": item.name,
            "price": str(item.price),
            "quantity": item.quantity,
            "in_stock": True,
            "tenant_id": shop.tenant.pk,
        }
    ]
    # Another shop's SKU is not found, even typed exactly.
    assert results(shop_client.get("/pos/search/", {"q": other_shop.items[0].sku})) == []


def test_search_lists_in_stock_items_first_and_flags_the_rest(
    shop_client: Client, shop: Shop
) -> None:
    # "Aaa" sorts first by name but has no stock: it must come after every item in stock.
    sold_out = make_item(shop, index=90, name="Aaa sold out ring", quantity=0)
    found = results(shop_client.get("/pos/search/", {"q": "ring"}))
    assert found[-1]["id"] == sold_out.pk
    assert found[-1]["in_stock"] is False
    assert all(row["in_stock"] for row in found[:-1])


def test_search_returns_at_most_20(shop_client: Client, shop: Shop) -> None:
    for index in range(5, 30):
        make_item(shop, index=index)
    assert len(results(shop_client.get("/pos/search/", {"q": "ring"}))) == 20


def test_customer_search_is_scoped_and_shaped(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    customer = shop.customers[1]
    found = results(shop_client.get("/pos/customers/", {"q": customer.email}))
    assert found == [
        {
            "id": customer.pk,
            "name": customer.full_name,
            "email": customer.email,
            "loyalty_points": 0,
            "tier": "Bronze",
            "tenant_id": shop.tenant.pk,
        }
    ]
    everyone = results(shop_client.get("/pos/customers/", {"q": ""}))
    assert {row["id"] for row in everyone} == {c.pk for c in shop.customers}
    assert results(shop_client.get("/pos/customers/", {"q": other_shop.customers[0].email})) == []


BAD_QUERIES = [
    ("' OR 1=1 --", 200),
    ("%", 200),
    ("_", 200),
    ("\\", 200),
    ("'; DROP TABLE inventory_item; --", 200),
    ("x" * 100, 200),
    ("x" * 101, 400),
    ("ring\x00", 400),
]


def test_search_bad_input_is_never_a_500(shop_client: Client, shop: Shop) -> None:
    for url in ("/pos/search/", "/pos/customers/"):
        for q, status in BAD_QUERIES:
            response = shop_client.get(url, {"q": q})
            assert response.status_code == status, (url, q, response.content)
            if status == 400:
                assert response.json()["message"]
    assert Item.unscoped.filter(tenant=shop.tenant).count() == len(shop.items)


def test_json_endpoints_refuse_other_methods(shop_client: Client, shop: Shop) -> None:
    assert shop_client.post("/pos/search/", {"q": "x"}).status_code == 405
    assert shop_client.get("/pos/checkout/").status_code == 405


@pytest.mark.parametrize("url", ["/pos/search/?q=ring", "/pos/customers/?q=Last"])
def test_search_query_count_does_not_grow_with_results(
    shop_client: Client,
    shop: Shop,
    url: str,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    # Session in Redis; the queries are the user lookup and the search itself.
    with django_assert_num_queries(2):
        few = shop_client.get(url)
    for index in range(5, 25):
        make_item(shop, index=index)
        Customer.unscoped.create(
            tenant=shop.tenant, first_name="F", last_name=f"Last-{index}", tier=shop.tiers["Bronze"]
        )
    with django_assert_num_queries(2):
        many = shop_client.get(url)
    assert len(results(few)) < len(results(many)) == 20


def test_search_stays_one_query_under_the_n_plus_one_fault(
    shop_client: Client, shop: Shop, django_assert_num_queries: Callable[..., Any]
) -> None:
    with override_settings(LAB_FAULTS=frozenset({"n_plus_one"})), django_assert_num_queries(2):
        assert len(results(shop_client.get("/pos/search/?q=ring"))) == len(shop.items)


def test_an_account_without_a_shop_is_refused_not_crashed(client: Client, db: None) -> None:
    admin = User.objects.create_user(email="nobody@lab.test", password="x" * 12, tenant=None)
    client.force_login(admin)
    assert client.get("/pos/").status_code == 403
    for url in ("/pos/search/?q=a", "/pos/customers/?q=a"):
        response = client.get(url)
        assert response.status_code == 403
        assert response.json()["error"] == "no_tenant"
    response = client.post("/pos/checkout/", "{}", content_type="application/json")
    assert response.status_code == 403
