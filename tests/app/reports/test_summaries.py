"""The reports' summary table stays exact: what the checkout adds equals a full rebuild."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from jewelry.core.tenancy import tenant_context
from jewelry.reports import selectors, summaries
from jewelry.reports.models import ItemSalesTotal
from jewelry.reports.params import LATEST, Period
from jewelry.sales.models import Sale, SaleLine
from tests.app.factories import Shop, make_item
from tests.app.reports.conftest import DAY, History, PlannedSale, at, record
from tests.app.sales.test_checkout_concurrency import race


def snapshot() -> dict[tuple[int, int], tuple[int, Decimal, int]]:
    return {
        (row.tenant_id, row.item_id): (row.units, row.revenue, row.sales)
        for row in ItemSalesTotal.unscoped.all()
    }


def rebuilt() -> dict[tuple[int, int], tuple[int, Decimal, int]]:
    """The table as a rebuild from the sale lines makes it (the current rows are restored)."""
    kept = snapshot()
    summaries.rebuild()
    fresh = snapshot()
    ItemSalesTotal.unscoped.all().delete()
    ItemSalesTotal.unscoped.bulk_create(
        ItemSalesTotal(tenant_id=t, item_id=i, units=u, revenue=r, sales=s)
        for (t, i), (u, r, s) in kept.items()
    )
    return fresh


def test_checkouts_keep_the_summary_equal_to_a_rebuild(history: History) -> None:
    kept = snapshot()
    # Every item sold in the history, both shops, with the figures of its lines.
    expected: dict[tuple[int, int], tuple[int, Decimal, int]] = {}
    for line in SaleLine.unscoped.filter(sale__status=Sale.Status.COMPLETED):
        units, revenue, sales = expected.get((line.tenant_id, line.item_id), (0, Decimal(0), 0))
        expected[(line.tenant_id, line.item_id)] = (
            units + line.quantity,
            revenue + line.line_total,
            sales + 1,
        )
    assert kept == expected
    assert rebuilt() == kept
    # Another checkout of an item already in the table and one never sold before.
    extra = make_item(history.shop, index=120, price=Decimal("15.50"), quantity=5)
    record(history.shop, PlannedSale(at(DAY, 16), [(history.items[0], 2), (extra, 3)]))
    after = snapshot()
    key = (history.shop.tenant.pk, history.items[0].pk)
    units, revenue, sales = kept[key]
    assert after[key] == (units + 2, revenue + 2 * history.items[0].price, sales + 1)
    assert after[(history.shop.tenant.pk, extra.pk)] == (3, Decimal("46.50"), 1)
    assert rebuilt() == after


def test_a_sale_written_around_the_checkout_is_caught_by_the_comparison(history: History) -> None:
    # The check above can fail: a line the checkout never saw makes the summary differ.
    sale = Sale.unscoped.filter(tenant=history.shop.tenant).first()
    SaleLine.unscoped.create(
        tenant=history.shop.tenant,
        sale=sale,
        item=history.items[3],
        quantity=1,
        unit_price=Decimal("1.00"),
        line_total=Decimal("1.00"),
    )
    assert rebuilt() != snapshot()


def test_all_time_sales_by_product_from_the_summary_equals_the_lines(history: History) -> None:
    # The same report over the widest bounded period reads the sale lines themselves.
    with tenant_context(history.shop.tenant):
        from_summary = selectors.sales_by_product(period=Period())
        from_lines = selectors.sales_by_product(period=Period(DAY.replace(year=2000), LATEST))
    for key in ("units", "revenue", "rows"):
        assert from_summary[key] == from_lines[key], key
    assert len(from_summary["rows"]) == len(history.items)


def test_the_all_time_report_reads_no_sale_line(history: History) -> None:
    from django.test.utils import CaptureQueriesContext

    with tenant_context(history.shop.tenant), CaptureQueriesContext(connection) as queries:
        selectors.sales_by_product(period=Period())
    assert queries.captured_queries
    assert not [q for q in queries.captured_queries if "sales_saleline" in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_of_one_item_lose_no_update(shop: Shop) -> None:
    item = make_item(shop, index=72, quantity=3, price=Decimal("10.00"))

    assert race(shop, item, buyers=4) == [201, 201, 201, 409]

    row = ItemSalesTotal.unscoped.get(tenant=shop.tenant, item=item)
    assert (row.units, row.revenue, row.sales) == (3, Decimal("30.00"), 3)
    assert rebuilt() == snapshot()
