"""A small, hand-written sales history whose figures the tests recompute on their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from jewelry.core.tenancy import tenant_context
from jewelry.customers.models import Customer
from jewelry.inventory.models import Item
from jewelry.sales.models import Sale
from jewelry.sales.services import LineRequest, PaymentRequest, sale_create
from tests.app.factories import Shop, make_item

DAY = date(2024, 3, 10)


@dataclass
class PlannedSale:
    at: datetime
    lines: list[tuple[Item, int]]
    customer: Customer | None = None
    # Split of the total over methods: all but the last get fixed amounts, the last the rest.
    methods: list[tuple[str, Decimal | None]] = field(default_factory=lambda: [("card", None)])

    @property
    def total(self) -> Decimal:
        return sum((item.price * qty for item, qty in self.lines), Decimal(0))

    def payments(self) -> list[tuple[str, Decimal]]:
        fixed = [(method, amount) for method, amount in self.methods[:-1] if amount is not None]
        rest = self.total - sum((amount for _, amount in fixed), Decimal(0))
        return [*fixed, (self.methods[-1][0], rest)]


@dataclass
class History:
    shop: Shop
    sales: list[PlannedSale]
    items: list[Item]


def record(shop: Shop, planned: PlannedSale) -> Sale:
    with tenant_context(shop.tenant):
        return sale_create(
            cashier=shop.user,
            lines=[LineRequest(item_id=item.pk, quantity=qty) for item, qty in planned.lines],
            payments=[PaymentRequest(method=m, amount=a) for m, a in planned.payments()],
            customer_id=planned.customer.pk if planned.customer else None,
            created_at=planned.at,
        )


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def build_history(shop: Shop) -> History:
    silver, platinum = "silver", "platinum"
    items = [
        make_item(shop, index=100, price=Decimal("250.00"), cost=Decimal("100.00"), quantity=10),
        make_item(shop, index=101, price=Decimal("1200.50"), cost=Decimal("700.25"), quantity=4),
        make_item(
            shop, index=102, price=Decimal("80.00"), cost=Decimal("30.00"), metal=silver, karat=None
        ),
        make_item(
            shop,
            index=103,
            price=Decimal("3000.00"),
            cost=Decimal("2100.00"),
            metal=platinum,
            karat=None,
            quantity=2,
        ),
    ]
    c0, c1, c2 = shop.customers
    before = date(2024, 3, 9)
    after = date(2024, 3, 11)
    sales = [
        PlannedSale(at(DAY, 10, 15), [(items[0], 2)], c0, [("cash", None)]),
        PlannedSale(at(DAY, 10, 45), [(items[1], 1)], c0),
        PlannedSale(
            at(DAY, 14),
            [(items[0], 1), (items[2], 3)],
            None,
            [("cash", Decimal("90")), ("card", None)],
        ),
        PlannedSale(at(DAY, 23, 59, 59), [(items[3], 1)], c1, [("transfer", None)]),
        PlannedSale(at(before, 23, 59, 59), [(items[2], 1)], c1),
        PlannedSale(at(after, 0, 0, 0), [(items[1], 1)], c2, [("cash", None)]),
    ]
    for planned in sales:
        record(shop, planned)
    return History(shop, sales, items)


@pytest.fixture
def history(shop: Shop, other_shop: Shop) -> History:
    """`shop`'s history around DAY, and one big sale of `other_shop` on DAY that must not count."""
    foreign = make_item(other_shop, index=100, price=Decimal("77777.00"), quantity=3)
    record(other_shop, PlannedSale(at(DAY, 12), [(foreign, 1)], other_shop.customers[0]))
    return build_history(shop)
