"""Fixtures shared by the app's tests (tests/app/**)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from jewelry.core.tenancy import tenant_context
from jewelry.customers.models import Customer
from jewelry.inventory.models import Item
from jewelry.sales.models import Sale
from jewelry.sales.services import LineRequest, PaymentRequest, sale_create
from tests.app.factories import Shop, make_shop


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Every test starts with an empty Redis cache: sessions, throttle counters, cached stats.

    Tests share one Redis per harness run, so a login failure counted or a statistic cached
    by one test must not leak into the next.
    """
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop(db: None) -> Shop:
    """A small shop: 5 items over 4 categories, 3 customers, one cashier (PASSWORD)."""
    return make_shop(items=5, customers=3, name="Golden Hour Jewels")


@pytest.fixture
def other_shop(db: None) -> Shop:
    """A second tenant whose rows must never show up in `shop`'s pages."""
    return make_shop(items=3, customers=2, name="Rival Rings")


@pytest.fixture
def shop_client(client: Client, shop: Shop) -> Client:
    """The test client, signed in (session in Redis) as `shop`'s cashier."""
    client.force_login(shop.user)
    return client


@pytest.fixture
def sell(db: None) -> Callable[..., Sale]:
    """Factory: `sell(shop, item, quantity=1, customer=None)` checks out through sale_create."""

    def make(shop: Shop, item: Item, quantity: int = 1, customer: Customer | None = None) -> Sale:
        with tenant_context(shop.tenant):
            return sale_create(
                cashier=shop.user,
                lines=[LineRequest(item_id=item.pk, quantity=quantity)],
                payments=[PaymentRequest(method="card", amount=item.price * quantity)],
                customer_id=customer.pk if customer else None,
                terminal_id=shop.terminal.pk,
            )

    return make
