"""Concurrent checkouts in real, separate transactions: the last unit is sold exactly once."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from jewelry.inventory.models import Item
from jewelry.sales.models import Sale
from tests.app.factories import Shop, make_item

BARRIER_TIMEOUT_SECONDS = 30
JOIN_TIMEOUT_SECONDS = 60


def race(shop: Shop, item: Item, buyers: int) -> list[int]:
    """`buyers` threads, each with its own DB connection, check out one `item` at once."""
    clients = []
    for _ in range(buyers):
        client = Client()
        client.force_login(shop.user)
        clients.append(client)
    body = json.dumps(
        {
            "items": [{"item_id": item.pk, "quantity": 1}],
            "payments": [{"method": "cash", "amount": str(item.price)}],
        }
    )
    barrier = threading.Barrier(buyers, timeout=BARRIER_TIMEOUT_SECONDS)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def buy(client: Client) -> None:
        try:
            barrier.wait()
            response = client.post("/pos/checkout/", body, content_type="application/json")
            with lock:
                statuses.append(response.status_code)
        except BaseException as error:  # reported below: a thread's failure must fail the test
            with lock:
                errors.append(error)
        finally:
            connection.close()  # this thread's own connection; Django opened it lazily

    threads = [threading.Thread(target=buy, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a checkout hung"
    assert not errors, errors
    return sorted(statuses)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_checkouts_of_the_last_unit_sell_it_once(shop: Shop) -> None:
    last_one = make_item(shop, index=70, quantity=1, price=Decimal("999.00"))

    assert race(shop, last_one, buyers=2) == [201, 409]

    assert Item.unscoped.get(pk=last_one.pk).quantity == 0
    assert Sale.unscoped.filter(tenant=shop.tenant, lines__item=last_one).count() == 1


@pytest.mark.django_db(transaction=True)
def test_four_buyers_of_two_units_two_succeed(shop: Shop) -> None:
    pair = make_item(shop, index=71, quantity=2)

    assert race(shop, pair, buyers=4) == [201, 201, 409, 409]

    assert Item.unscoped.get(pk=pair.pk).quantity == 0
    assert Sale.unscoped.filter(tenant=shop.tenant, lines__item=pair).count() == 2
