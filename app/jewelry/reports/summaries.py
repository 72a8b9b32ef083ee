"""The reports' summary tables: the checkout adds to them, a rebuild recomputes them.

Both write the same aggregate of completed sales' lines, so a rebuild after any number of
checkouts changes nothing (the tests hold them to that). The checkout's add happens in its own
transaction, on items it has already locked, so concurrent checkouts never lose an update.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import connection

from jewelry.reports.models import ItemSalesTotal

TABLE = ItemSalesTotal._meta.db_table

# Every row recomputed from the sale lines (the seed calls this after its bulk load).
REBUILD_SQL = f"""
    INSERT INTO {TABLE} (tenant_id, item_id, units, revenue, sales)
    SELECT line.tenant_id, line.item_id, SUM(line.quantity), SUM(line.line_total),
           COUNT(DISTINCT line.sale_id)
    FROM sales_saleline line JOIN sales_sale sale ON sale.id = line.sale_id
    WHERE sale.status = 'completed'
    GROUP BY line.tenant_id, line.item_id
"""  # noqa: S608 - the model's own table name, no input


def rebuild(cursor: object | None = None) -> None:
    """Recompute every summary row (all tenants) from the sales; inside the caller's transaction."""
    if cursor is None:
        with connection.cursor() as own:
            rebuild(own)
        return
    cursor.execute(f"TRUNCATE {TABLE}")  # type: ignore[attr-defined]
    cursor.execute(REBUILD_SQL)  # type: ignore[attr-defined]


def add_completed_sale(*, tenant_id: int, lines: Iterable[tuple[int, int, Decimal]]) -> None:
    """Add one completed sale's lines (item id, quantity, line total): one statement.

    An item appears once per sale (the checkout refuses duplicates), so each line is one sale
    of its item. Rows are written in item id order, the order the checkout locked the items.
    """
    rows = sorted(lines)
    if not rows:
        return
    values = ", ".join(["(%s, %s, %s, %s, 1)"] * len(rows))
    params: list[object] = []
    for item_id, quantity, line_total in rows:
        params += [tenant_id, item_id, quantity, line_total]
    # The model's own table name and placeholders only: no input reaches the SQL text.
    upsert = (
        f"INSERT INTO {TABLE} AS total (tenant_id, item_id, units, revenue, sales) "  # noqa: S608
        f"VALUES {values} ON CONFLICT (tenant_id, item_id) DO UPDATE SET "
        "units = total.units + EXCLUDED.units, revenue = total.revenue + EXCLUDED.revenue, "
        "sales = total.sales + EXCLUDED.sales"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            upsert,
            params,
        )
