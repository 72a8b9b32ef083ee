"""GET /api/inventory/ and /api/inventory/<id>/: content, filters, paging, scoping, bad input."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.app.api.conftest import objects_without_tenant_id, tenant_ids
from tests.app.factories import Shop, make_item

pytestmark = pytest.mark.django_db
ENVELOPE = frozenset({"count", "next", "previous", "results"})


def test_list_is_a_page_of_this_shops_items_only(
    api: APIClient, shop: Shop, other_shop: Shop
) -> None:
    response = api.get("/api/inventory/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == ENVELOPE
    assert body["count"] == len(shop.items)
    assert body["next"] is None
    assert body["previous"] is None
    assert {row["id"] for row in body["results"]} == {item.pk for item in shop.items}
    assert tenant_ids(body) == {shop.tenant.pk}
    assert objects_without_tenant_id(body, envelope_keys=ENVELOPE) == []


def test_list_rows_carry_the_items_fields(api: APIClient, shop: Shop) -> None:
    item = shop.items[0]

    row = next(r for r in api.get("/api/inventory/").json()["results"] if r["id"] == item.pk)

    assert row["sku"] == item.sku
    assert row["name"] == item.name
    assert row["price"] == str(item.price)
    assert row["quantity"] == item.quantity
    assert row["karat"] == item.karat
    assert row["category_id"] == item.category_id
    assert row["category_name"] == item.category.name
    assert row["branch_name"] == shop.branch.name
    assert row["is_low_stock"] is False


def test_list_pages_with_next_and_previous_links(api: APIClient, shop: Shop) -> None:
    first = api.get("/api/inventory/", {"page_size": 4}).json()
    second = api.get("/api/inventory/", {"page_size": 4, "page": 2}).json()

    assert first["count"] == second["count"] == 6
    assert len(first["results"]) == 4
    assert len(second["results"]) == 2
    assert "page=2" in first["next"]
    assert first["previous"] is None
    assert second["next"] is None
    assert second["previous"] is not None
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert sorted(ids) == sorted(item.pk for item in shop.items)


def test_page_size_is_capped_at_100(api: APIClient, shop: Shop) -> None:
    for index in range(6, 106):
        make_item(shop, index=index)

    body = api.get("/api/inventory/", {"page_size": 500}).json()

    assert body["count"] == 106
    assert len(body["results"]) == 100


def test_filters_by_category(api: APIClient, shop: Shop) -> None:
    category = shop.categories[1]

    body = api.get("/api/inventory/", {"category": category.pk}).json()

    expected = {item.pk for item in shop.items if item.category_id == category.pk}
    assert expected
    assert {row["id"] for row in body["results"]} == expected


def test_filters_by_karat(api: APIClient, shop: Shop) -> None:
    body = api.get("/api/inventory/", {"karat": 18}).json()

    expected = {item.pk for item in shop.items if item.karat == 18}
    assert expected
    assert {row["id"] for row in body["results"]} == expected


def test_search_matches_name_and_sku(api: APIClient, shop: Shop) -> None:
    item = shop.items[3]

    by_sku = api.get("/api/inventory/", {"search": item.sku.lower()}).json()
    by_name = api.get("/api/inventory/", {"search": "ring 3"}).json()

    assert [row["id"] for row in by_sku["results"]] == [item.pk]
    assert [row["id"] for row in by_name["results"]] == [item.pk]


def test_another_shops_category_filters_to_nothing(
    api: APIClient, shop: Shop, other_shop: Shop
) -> None:
    body = api.get("/api/inventory/", {"category": other_shop.categories[0].pk}).json()

    assert body["count"] == 0


@pytest.mark.parametrize(
    "search", ["' OR 1=1 --", "%", "_", "\\", "'; DROP TABLE inventory_item; --", "ring' --"]
)
def test_sql_ish_search_is_just_text(api: APIClient, shop: Shop, search: str) -> None:
    response = api.get("/api/inventory/", {"search": search})

    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"category": "rings"}, "category must be a positive integer"),
        ({"category": "-1"}, "category must be a positive integer"),
        ({"category": "9" * 30}, "category must be a positive integer"),
        ({"category": "1.5"}, "category must be a positive integer"),
        ({"karat": "12"}, "karat must be one of 10, 14, 18, 22, 24"),
        ({"karat": "gold"}, "karat must be a positive integer"),
        ({"search": "x" * 101}, "search is at most 100 characters"),
        ({"search": "ring\x00"}, "search must not contain NUL"),
        ({"page_size": "0"}, "page_size must be an integer"),
        ({"page_size": "ten"}, "page_size must be an integer"),
    ],
)
def test_bad_filters_are_400_with_a_message(
    api: APIClient, shop: Shop, params: dict[str, str], needle: str
) -> None:
    response = api.get("/api/inventory/", params)

    assert response.status_code == 400
    assert needle in response.json()["error"]


@pytest.mark.parametrize("page", ["2", "0", "-1", "abc", "9" * 25, "9" * 5000, "1.5"])
def test_bad_pages_are_404_with_a_message(api: APIClient, shop: Shop, page: str) -> None:
    response = api.get("/api/inventory/", {"page": page})

    assert response.status_code == 404
    assert response.json()["error"].startswith("invalid page")


def test_detail_returns_the_item(api: APIClient, shop: Shop) -> None:
    item = shop.items[2]

    response = api.get(f"/api/inventory/{item.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == item.pk
    assert body["tenant_id"] == shop.tenant.pk
    assert body["sku"] == item.sku
    assert body["weight_grams"] == "3.500"


def test_detail_of_another_shops_item_is_404(api: APIClient, shop: Shop, other_shop: Shop) -> None:
    response = api.get(f"/api/inventory/{other_shop.items[0].pk}/")

    assert response.status_code == 404
    assert response.json()["error"] == "no such item in this shop"


@pytest.mark.parametrize("item_id", ["999999999", "9" * 30])
def test_detail_of_an_unknown_id_is_404(api: APIClient, shop: Shop, item_id: str) -> None:
    assert api.get(f"/api/inventory/{item_id}/").status_code == 404


def test_writes_are_405(api: APIClient, shop: Shop) -> None:
    response = api.post("/api/inventory/", {"name": "x"}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/api/inventory/abc/", "no API endpoint at /api/inventory/abc/"),
        ("/api/inventory", "did you mean /api/inventory/ ?"),
        ("/api/nothing-here/", "no API endpoint"),
    ],
)
def test_unknown_api_paths_are_json_404(anonymous: APIClient, path: str, needle: str) -> None:
    response = anonymous.get(path)

    assert response.status_code == 404
    assert needle in response.json()["error"]
