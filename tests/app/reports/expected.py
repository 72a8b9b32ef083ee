"""The reports' figures recomputed in plain Python from the planned sales (not from SQL)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from tests.app.reports.conftest import PlannedSale


def within(sales: list[PlannedSale], start: datetime, end_before: datetime) -> list[PlannedSale]:
    return [sale for sale in sales if start <= sale.at < end_before]


def revenue(sales: list[PlannedSale]) -> Decimal:
    return sum((sale.total for sale in sales), Decimal(0))


def units(sales: list[PlannedSale]) -> int:
    return sum(qty for sale in sales for _, qty in sale.lines)


def points(sale: PlannedSale) -> int:
    if sale.customer is None:
        return 0
    return int((sale.total * Decimal("0.1")).to_integral_value(rounding=ROUND_FLOOR))


def payments(sales: list[PlannedSale]) -> list[dict[str, object]]:
    count: Counter[str] = Counter()
    amount: defaultdict[str, Decimal] = defaultdict(Decimal)
    for sale in sales:
        for method, paid in sale.payments():
            count[method] += 1
            amount[method] += paid
    return [
        {"method": method, "count": count[method], "amount": amount[method]}
        for method in sorted(count)
    ]


def item_revenue(sales: list[PlannedSale]) -> list[tuple[int, int, Decimal]]:
    """(item id, units, revenue), best revenue first."""
    sold: Counter[int] = Counter()
    money: defaultdict[int, Decimal] = defaultdict(Decimal)
    for sale in sales:
        for item, qty in sale.lines:
            sold[item.pk] += qty
            money[item.pk] += item.price * qty
    return sorted(((pk, sold[pk], money[pk]) for pk in sold), key=lambda r: (-r[2], r[0]))


def cost_of_goods(sales: list[PlannedSale]) -> Decimal:
    return sum((item.cost * qty for sale in sales for item, qty in sale.lines), Decimal(0))


def spend_by_customer(sales: list[PlannedSale]) -> dict[int, tuple[int, Decimal]]:
    spend: dict[int, tuple[int, Decimal]] = {}
    for sale in sales:
        if sale.customer is not None:
            count, total = spend.get(sale.customer.pk, (0, Decimal(0)))
            spend[sale.customer.pk] = (count + 1, total + sale.total)
    return spend
