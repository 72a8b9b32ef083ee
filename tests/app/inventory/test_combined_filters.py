"""Inventory filters combine as an intersection, on the HTML list and the API alike.

Each filter here matches several items on its own, so a filter that is silently dropped
(say category and karat whenever a search term is given) changes the answer.
"""

from __future__ import annotations

import itertools
import re

import pytest
from django.test import Client

from jewelry.inventory.models import Item
from tests.app.api.conftest import bearer_client
from tests.app.factories import Shop, make_item

pytestmark = pytest.mark.django_db

STONES = ("Emerald", "Ruby")
KARATS = (14, 18, 22)


@pytest.fixture
def stock(shop: Shop, other_shop: Shop) -> list[Item]:
    """The shop's 5 default items plus 24: every stone x 2 categories x 3 karats, twice.

    The other shop gets the same names, which must never show up.
    """
    combos = itertools.product(STONES, shop.categories[:2], KARATS, range(2))
    for index, (stone, category, karat, copy) in enumerate(combos, start=100):
        make_item(
            shop, index=index, name=f"{stone} {karat}K piece {copy}", category=category, karat=karat
        )
        make_item(
            other_shop,
            index=index,
            name=f"{stone} {karat}K piece {copy}",
            category=other_shop.categories[0],
            karat=karat,
        )
    return list(Item.unscoped.filter(tenant=shop.tenant))


def expected(
    stock: list[Item], *, q: str = "", category: int | None = None, karat: int | None = None
) -> set[int]:
    return {
        item.pk
        for item in stock
        if q.lower() in item.name.lower()
        and (category is None or item.category_id == category)
        and (karat is None or item.karat == karat)
    }


def cases(shop: Shop) -> list[dict]:
    rings, necklaces = shop.categories[0].pk, shop.categories[1].pk
    return [
        {"q": "emerald"},
        {"category": rings},
        {"karat": 18},
        {"q": "emerald", "category": rings},
        {"q": "ruby", "karat": 22},
        {"category": necklaces, "karat": 14},
        {"q": "emerald", "category": rings, "karat": 18},
        {"q": "ruby", "category": necklaces, "karat": 14},
    ]


def html_ids(client: Client, params: dict) -> set[int]:
    response = client.get("/inventory/", params)
    assert response.status_code == 200
    return {int(v) for v in re.findall(r'data-item-id="(\d+)"', response.content.decode())}


def test_html_list_filters_intersect(shop_client: Client, shop: Shop, stock: list[Item]) -> None:
    for params in cases(shop):
        want = expected(stock, **params)
        assert 0 < len(want) < len(stock)
        assert html_ids(shop_client, params) == want, params
    # Each pair and the triple narrow the single filters: the test data can tell them apart.
    assert len(expected(stock, q="emerald", category=shop.categories[0].pk, karat=18)) == 2


def test_html_list_combination_matching_nothing(
    shop_client: Client, shop: Shop, stock: list[Item]
) -> None:
    # Emerald pieces exist, rings exist, 10K items exist: no 10K emerald ring does.
    params = {"q": "emerald", "category": shop.categories[0].pk, "karat": 10}
    assert expected(stock, q="emerald")
    assert expected(stock, karat=10)
    response = shop_client.get("/inventory/", params)
    assert html_ids(shop_client, params) == set()
    assert "No items match." in response.content.decode()


def test_api_list_filters_intersect(shop: Shop, stock: list[Item]) -> None:
    api = bearer_client(shop.user)
    for params in [*cases(shop), {"q": "emerald", "category": shop.categories[0].pk, "karat": 10}]:
        query = {"page_size": 100, **{("search" if k == "q" else k): v for k, v in params.items()}}
        body = api.get("/api/inventory/", query).json()
        want = expected(stock, **params)
        assert {row["id"] for row in body["results"]} == want, params
        assert body["count"] == len(want)
