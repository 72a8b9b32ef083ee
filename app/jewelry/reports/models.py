"""Summary tables of the reports: aggregates kept exact by the checkout, rebuilt by the seed.

At the lab's `large` scale (a million sales) the all-time reports aggregate every sale line of
a shop on each cache miss (1.3 s of database time per request at 20 users). These rows hold
the aggregate itself; `jewelry.reports.summaries` is the only code that writes them.
"""

from __future__ import annotations

from django.db import models

from jewelry.core.tenancy import TenantManager


class ItemSalesTotal(models.Model):
    """All-time units, revenue and number of completed sales of one item of a shop.

    No database foreign keys: the seed truncates and reloads the tables it owns, and a
    rebuild (`summaries.rebuild`) recomputes every row from the sale lines anyway.
    """

    tenant = models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    item = models.ForeignKey(
        "inventory.Item",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    units = models.BigIntegerField()
    revenue = models.DecimalField(max_digits=18, decimal_places=2)
    sales = models.BigIntegerField()

    objects = TenantManager()
    unscoped = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        base_manager_name = "unscoped"
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "item"], name="item_sales_total_per_item")
        ]
        # The top-N of sales by product: the first rows of this index, no sort.
        indexes = [models.Index(fields=["tenant", "-revenue", "item"], name="item_sales_total_top")]

    def __str__(self) -> str:
        return f"item {self.item_id}: {self.units} units, {self.revenue}"
