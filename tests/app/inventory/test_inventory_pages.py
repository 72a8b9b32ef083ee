"""Inventory pages: list with filters and pagination, detail, low stock; scoping; bad input."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from jewelry.inventory.models import Item
from tests.app.factories import Shop, make_item

pytestmark = pytest.mark.django_db

# Per list page, whatever its size: session user, the header's tenant name, the paginator's
# count, the page of items (category and branch joined in), the category dropdown.
INVENTORY_LIST_QUERIES = 5


def item_rows(response) -> int:
    return response.content.decode().count("data-item-id=")


def add_items(shop: Shop, count: int, start: int = 100) -> list[Item]:
    return [make_item(shop, index=start + i) for i in range(count)]


def test_list_shows_the_shops_items_with_category_and_branch(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    response = shop_client.get("/inventory/")
    assert response.status_code == 200
    body = response.content.decode()
    assert item_rows(response) == len(shop.items)
    for item in shop.items:
        assert item.sku in body
        assert f'href="/inventory/{item.pk}/"' in body
    assert shop.items[0].category.name in body
    assert shop.branch.name in body
    for item in other_shop.items:
        assert item.sku not in body
    assert f'data-tenant-id="{shop.tenant.pk}"' in body


def test_category_dropdown_lists_only_the_shops_categories(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    body = shop_client.get("/inventory/").content.decode()
    dropdown = body[body.index('<select name="category">') :].split("</select>", 1)[0]
    for category in shop.categories:
        assert f'<option value="{category.pk}">{category.name}</option>' in dropdown
    for category in other_shop.categories:
        assert f'<option value="{category.pk}"' not in dropdown


def test_filter_by_category(shop_client: Client, shop: Shop) -> None:
    rings = shop.categories[0]
    response = shop_client.get("/inventory/", {"category": rings.pk})
    expected = [item for item in shop.items if item.category_id == rings.pk]
    assert response.status_code == 200
    assert item_rows(response) == len(expected) > 0
    assert f'<option value="{rings.pk}" selected>' in response.content.decode()


def test_filter_by_karat(shop_client: Client, shop: Shop) -> None:
    response = shop_client.get("/inventory/", {"karat": "18"})
    expected = [item for item in shop.items if item.karat == 18]
    assert item_rows(response) == len(expected) == 1
    assert expected[0].sku in response.content.decode()


def test_search_by_name_and_by_sku(shop_client: Client, shop: Shop) -> None:
    target = make_item(shop, index=50, name="Emerald halo pendant")
    by_name = shop_client.get("/inventory/", {"q": "emerald HALO"})
    assert item_rows(by_name) == 1
    assert target.sku in by_name.content.decode()
    by_sku = shop_client.get("/inventory/", {"q": target.sku.lower()})
    assert item_rows(by_sku) == 1


def test_filters_combine(shop_client: Client, shop: Shop) -> None:
    first = shop.items[0]
    response = shop_client.get(
        "/inventory/", {"category": first.category_id, "karat": first.karat, "q": first.sku}
    )
    assert item_rows(response) == 1


def test_empty_filter_values_mean_no_filter(shop_client: Client, shop: Shop) -> None:
    response = shop_client.get("/inventory/", {"category": "", "karat": "", "q": "", "page": ""})
    assert response.status_code == 200
    assert item_rows(response) == len(shop.items)


def test_another_shops_category_matches_nothing(shop_client: Client, other_shop: Shop) -> None:
    response = shop_client.get("/inventory/", {"category": other_shop.categories[0].pk})
    assert response.status_code == 200
    assert item_rows(response) == 0
    assert "No items match." in response.content.decode()


def test_list_is_paginated_25_per_page(shop_client: Client, shop: Shop) -> None:
    add_items(shop, 25)  # 30 in all
    first = shop_client.get("/inventory/")
    assert item_rows(first) == 25
    assert "page 1 of 2 (30 in all)" in first.content.decode()
    assert 'href="?page=2"' in first.content.decode()
    second = shop_client.get("/inventory/", {"page": 2})
    assert item_rows(second) == 5


def test_pagination_links_keep_the_filters(shop_client: Client, shop: Shop) -> None:
    add_items(shop, 25)
    body = shop_client.get("/inventory/", {"q": "gold", "karat": ""}).content.decode()
    assert "page 1 of 2 (30 in all)" in body
    assert 'href="?q=gold&amp;karat=&amp;page=2"' in body


@pytest.mark.parametrize("page", ["3", "999999999999999999999999"])
def test_a_page_beyond_the_end_shows_the_last_page(
    shop_client: Client, shop: Shop, page: str
) -> None:
    add_items(shop, 25)
    response = shop_client.get("/inventory/", {"page": page})
    assert response.status_code == 200
    assert item_rows(response) == 5
    assert "page 2 of 2" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-3"}, "page"),
        ({"page": "9" * 5000}, "page"),
        ({"category": "rings"}, "category"),
        ({"category": "-1"}, "category"),
        ({"category": "1.5"}, "category"),
        ({"category": "99999999999999999999999999"}, "category"),
        ({"karat": "gold"}, "karat"),
        ({"karat": "13"}, "karat"),
        ({"karat": "99999999999"}, "karat"),
        ({"q": "x" * 101}, "q"),
        ({"q": "ring\x00"}, "q"),
    ],
)
def test_invalid_query_values_are_a_400_naming_the_parameter(
    shop_client: Client, shop: Shop, params: dict, named: str
) -> None:
    response = shop_client.get("/inventory/", params)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Invalid query parameter." in body
    assert f"{named}:" in body


@pytest.mark.parametrize(
    "q", ["' OR 1=1 --", "'; DROP TABLE inventory_item; --", "%", "_", "\\", "ring%' --", "ü💍"]
)
def test_sql_ish_and_wildcard_searches_match_literally(
    shop_client: Client, shop: Shop, q: str
) -> None:
    response = shop_client.get("/inventory/", {"q": q})
    assert response.status_code == 200
    assert item_rows(response) == 0
    assert Item.unscoped.filter(tenant=shop.tenant).count() == len(shop.items)


def test_detail_shows_the_item(shop_client: Client, shop: Shop) -> None:
    item = shop.items[1]
    response = shop_client.get(f"/inventory/{item.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    for text in (item.name, item.sku, item.category.name, shop.branch.name, str(item.price)):
        assert text in body


@pytest.mark.parametrize("which", ["foreign", "unknown", "huge"])
def test_detail_of_an_id_outside_the_shop_is_404(
    shop_client: Client, other_shop: Shop, which: str
) -> None:
    item_id = {
        "foreign": other_shop.items[0].pk,
        "unknown": 10**9,
        "huge": 10**30,
    }[which]
    assert shop_client.get(f"/inventory/{item_id}/").status_code == 404


def test_low_stock_lists_items_at_or_below_their_threshold(
    shop_client: Client, shop: Shop, other_shop: Shop
) -> None:
    at_threshold = make_item(shop, index=60, quantity=2)
    empty = make_item(shop, index=61, quantity=0)
    make_item(other_shop, index=62, quantity=0)
    response = shop_client.get("/inventory/low-stock/")
    assert response.status_code == 200
    assert item_rows(response) == 2
    body = response.content.decode()
    assert body.index(empty.sku) < body.index(at_threshold.sku)  # fewest first
    assert all(item.sku not in body for item in shop.items)  # quantity 10 > threshold 2


def test_low_stock_rejects_a_bad_page(shop_client: Client, shop: Shop) -> None:
    assert shop_client.get("/inventory/low-stock/", {"page": "x"}).status_code == 400


@pytest.mark.parametrize("extra_items", [0, 20])
def test_list_query_count_does_not_depend_on_page_size(
    shop_client: Client, shop: Shop, django_assert_num_queries, extra_items: int
) -> None:
    add_items(shop, extra_items)
    with django_assert_num_queries(INVENTORY_LIST_QUERIES):
        response = shop_client.get("/inventory/", {"q": "gold"})
    assert item_rows(response) == len(shop.items) + extra_items


def test_filtered_list_query_count_is_the_same(
    shop_client: Client, shop: Shop, django_assert_num_queries
) -> None:
    with django_assert_num_queries(INVENTORY_LIST_QUERIES):
        shop_client.get("/inventory/", {"category": shop.categories[0].pk, "karat": "10"})


@override_settings(LAB_FAULTS=frozenset({"n_plus_one"}))
def test_n_plus_one_fault_adds_two_queries_per_item(
    shop_client: Client, shop: Shop, django_assert_num_queries
) -> None:
    add_items(shop, 20)  # 25 on the page
    with django_assert_num_queries(INVENTORY_LIST_QUERIES + 2 * 25):
        response = shop_client.get("/inventory/")
    assert item_rows(response) == 25


def test_detail_and_low_stock_query_counts(
    shop_client: Client, shop: Shop, django_assert_num_queries
) -> None:
    with django_assert_num_queries(3):  # user, tenant, the item with category and branch
        shop_client.get(f"/inventory/{shop.items[0].pk}/")
    for i in range(5):
        make_item(shop, index=70 + i, quantity=1)
    with django_assert_num_queries(4):  # user, tenant, count, page (joined)
        shop_client.get("/inventory/low-stock/")


@pytest.mark.parametrize("path", ["/inventory/", "/inventory/low-stock/", "/dashboard/"])
def test_read_only_pages_refuse_post(shop_client: Client, shop: Shop, path: str) -> None:
    assert shop_client.post(path).status_code == 405
