"""The reports' figures: every number is an aggregate computed by PostgreSQL.

Each report runs a fixed handful of grouped queries whatever the data volume; Python only
divides two aggregates (averages, rates) and labels rows. Only completed sales count.
Queries over lines and payments also pin the joined sale to the tenant, so the sales'
(tenant, created_at) index bounds them to the period; the all-time sales by product read the
summary table the checkout keeps (`jewelry.reports.summaries`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, DecimalField, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, ExtractHour, TruncDate
from django.utils import timezone

from jewelry.core.tenancy import active_tenant_id
from jewelry.customers.models import Customer, LoyaltyTier
from jewelry.inventory.models import Item
from jewelry.reports.models import ItemSalesTotal
from jewelry.reports.params import Period, day_bounds
from jewelry.sales.models import Payment, Sale, SaleLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MONEY = DecimalField(max_digits=18, decimal_places=2)
TOP_ITEMS = 10
TOP_PRODUCTS = 50
TOP_CUSTOMERS = 10


def _money(value: Decimal | None) -> Decimal:
    return (value or ZERO).quantize(CENT)


def _percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def _completed_sales(start: datetime | None, end_before: datetime | None) -> QuerySet[Sale]:
    sales = Sale.objects.filter(status=Sale.Status.COMPLETED)
    if start is not None:
        sales = sales.filter(created_at__gte=start)
    if end_before is not None:
        sales = sales.filter(created_at__lt=end_before)
    return sales


def _lines_of(start: datetime | None, end_before: datetime | None) -> QuerySet[SaleLine]:
    # sale__tenant_id: without it the period filter on the joined sales has no index to use
    # (theirs leads with the tenant) and PostgreSQL reads every shop's sales.
    lines = SaleLine.objects.filter(
        sale__tenant_id=active_tenant_id(), sale__status=Sale.Status.COMPLETED
    )
    if start is not None:
        lines = lines.filter(sale__created_at__gte=start)
    if end_before is not None:
        lines = lines.filter(sale__created_at__lt=end_before)
    return lines


def _payments_by_method(start: datetime | None, end_before: datetime | None) -> list[dict]:
    payments = Payment.objects.filter(
        sale__tenant_id=active_tenant_id(), sale__status=Sale.Status.COMPLETED
    )
    if start is not None:
        payments = payments.filter(sale__created_at__gte=start)
    if end_before is not None:
        payments = payments.filter(sale__created_at__lt=end_before)
    rows = payments.values("method").annotate(count=Count("id"), amount=Sum("amount"))
    return [
        {"method": row["method"], "count": row["count"], "amount": _money(row["amount"])}
        for row in rows.order_by("method")
    ]


def _top_items(lines: QuerySet[SaleLine], limit: int) -> list[dict[str, Any]]:
    rows = (
        lines.values("item_id", "item__sku", "item__name", "item__category__name")
        .annotate(
            units=Sum("quantity"), revenue=Sum("line_total"), sales=Count("sale", distinct=True)
        )
        .order_by("-revenue", "item_id")[:limit]
    )
    return [
        {
            "item_id": row["item_id"],
            "sku": row["item__sku"],
            "name": row["item__name"],
            "category": row["item__category__name"],
            "units": row["units"],
            "revenue": _money(row["revenue"]),
            "sales": row["sales"],
        }
        for row in rows
    ]


def daily_sales(*, day: date) -> dict[str, Any]:
    start, end_before = day_bounds(day)
    sales = _completed_sales(start, end_before)
    summary = sales.aggregate(
        count=Count("id"),
        revenue=Sum("total"),
        average=Avg("total"),
        customers=Count("customer", distinct=True),
        points=Coalesce(Sum("loyalty_points_awarded"), 0),
    )
    lines = _lines_of(start, end_before)
    units = lines.aggregate(units=Coalesce(Sum("quantity"), 0))["units"]
    by_hour = (
        sales.annotate(hour=ExtractHour("created_at"))
        .values("hour")
        .annotate(count=Count("id"), revenue=Sum("total"))
        .order_by("hour")
    )
    return {
        "tenant_id": active_tenant_id(),
        "date": day,
        "sales_count": summary["count"],
        "revenue": _money(summary["revenue"]),
        "average_sale": _money(summary["average"]),
        "customers": summary["customers"],
        "loyalty_points": summary["points"],
        "units_sold": units,
        "payments": _payments_by_method(start, end_before),
        "by_hour": [
            {"hour": row["hour"], "count": row["count"], "revenue": _money(row["revenue"])}
            for row in by_hour
        ],
        "top_items": _top_items(lines, TOP_ITEMS),
        "generated_at": timezone.now(),
    }


def _all_time_by_product(limit: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Totals and top items of all time from the summary rows: no sale line is read."""
    totals_rows = ItemSalesTotal.objects.all()
    totals = totals_rows.aggregate(units=Coalesce(Sum("units"), 0), revenue=Sum("revenue"))
    top = totals_rows.values(
        "item_id", "item__sku", "item__name", "item__category__name", "units", "revenue", "sales"
    ).order_by("-revenue", "item_id")[:limit]
    rows = [
        {
            "item_id": row["item_id"],
            "sku": row["item__sku"],
            "name": row["item__name"],
            "category": row["item__category__name"],
            "units": row["units"],
            "revenue": _money(row["revenue"]),
            "sales": row["sales"],
        }
        for row in top
    ]
    return totals, rows


def sales_by_product(*, period: Period, limit: int = TOP_PRODUCTS) -> dict[str, Any]:
    if period.start is None and period.end is None:
        totals, rows = _all_time_by_product(limit)
    else:
        lines = _lines_of(period.start_at, period.end_before)
        totals = lines.aggregate(units=Coalesce(Sum("quantity"), 0), revenue=Sum("line_total"))
        rows = _top_items(lines, limit)
    revenue = _money(totals["revenue"])
    for row in rows:
        row["share"] = _percent(row["revenue"], revenue)
    return {
        "tenant_id": active_tenant_id(),
        "period": period,
        "units": totals["units"],
        "revenue": revenue,
        "rows": rows,
        "generated_at": timezone.now(),
    }


def customer_analytics(*, period: Period) -> dict[str, Any]:
    tiers = LoyaltyTier.objects.annotate(
        customers_count=Count("customers"),
        points=Coalesce(Sum("customers__loyalty_points"), 0),
    ).order_by("min_points", "id")
    sales = _completed_sales(period.start_at, period.end_before)
    buyers = (
        sales.filter(customer__isnull=False)
        .values("customer")
        .annotate(purchases=Count("id"))
        .aggregate(
            buyers=Count("customer"),
            repeat=Count("customer", filter=Q(purchases__gte=2)),
        )
    )
    walk_in = sales.aggregate(all=Count("id"), walk_in=Count("id", filter=Q(customer__isnull=True)))
    in_period = Q(sales__status=Sale.Status.COMPLETED)
    if period.start_at is not None:
        in_period &= Q(sales__created_at__gte=period.start_at)
    if period.end_before is not None:
        in_period &= Q(sales__created_at__lt=period.end_before)
    top = (
        Customer.objects.filter(in_period)
        .select_related("tier")
        .annotate(spent=Sum("sales__total"), purchases=Count("sales"))
        .order_by("-spent", "id")[:TOP_CUSTOMERS]
    )
    return {
        "tenant_id": active_tenant_id(),
        "period": period,
        "customers": sum(tier.customers_count for tier in tiers),
        "tiers": [
            {
                "name": tier.name,
                "min_points": tier.min_points,
                "customers": tier.customers_count,
                "points": tier.points,
            }
            for tier in tiers
        ],
        "buyers": buyers["buyers"],
        "repeat_buyers": buyers["repeat"],
        "repeat_rate": _percent(buyers["repeat"], buyers["buyers"]),
        "sales": walk_in["all"],
        "walk_in_sales": walk_in["walk_in"],
        "top_customers": [
            {
                "id": customer.pk,
                "name": customer.full_name,
                "email": customer.email,
                "tier": customer.tier.name,
                "loyalty_points": customer.loyalty_points,
                "purchases": customer.purchases,
                "spent": _money(customer.spent),
            }
            for customer in top
        ],
        "generated_at": timezone.now(),
    }


def financial_summary(*, period: Period) -> dict[str, Any]:
    start, end_before = period.start_at, period.end_before
    sales = _completed_sales(start, end_before)
    summary = sales.aggregate(count=Count("id"), revenue=Sum("total"))
    # Cost of goods at the items' current cost: the shop records no cost per sale.
    goods = _lines_of(start, end_before).aggregate(
        units=Coalesce(Sum("quantity"), 0),
        cost=Sum(F("quantity") * F("item__cost"), output_field=MONEY),
    )
    revenue = _money(summary["revenue"])
    cost = _money(goods["cost"])
    by_day = (
        sales.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("id"), revenue=Sum("total"))
        .order_by("day")
    )
    return {
        "tenant_id": active_tenant_id(),
        "period": period,
        "sales_count": summary["count"],
        "units_sold": goods["units"],
        "revenue": revenue,
        "cost_of_goods": cost,
        "gross_margin": revenue - cost,
        "gross_margin_percent": _percent(revenue - cost, revenue),
        "payments": _payments_by_method(start, end_before),
        "by_day": [
            {"day": row["day"], "count": row["count"], "revenue": _money(row["revenue"])}
            for row in by_day
        ],
        "generated_at": timezone.now(),
    }


def inventory_valuation() -> dict[str, Any]:
    rows = (
        Item.objects.values("category__name", "metal")
        .annotate(
            items=Count("id"),
            units=Coalesce(Sum("quantity"), 0),
            cost_value=Sum(F("cost") * F("quantity"), output_field=MONEY),
            retail_value=Sum(F("price") * F("quantity"), output_field=MONEY),
        )
        .order_by("category__name", "metal")
    )
    groups = [
        {
            "category": row["category__name"],
            "metal": row["metal"],
            "items": row["items"],
            "units": row["units"],
            "cost_value": _money(row["cost_value"]),
            "retail_value": _money(row["retail_value"]),
        }
        for row in rows
    ]
    # The totals add up the grouped rows PostgreSQL returned; no second scan of the items.
    return {
        "tenant_id": active_tenant_id(),
        "groups": groups,
        "items": sum(g["items"] for g in groups),
        "units": sum(g["units"] for g in groups),
        "cost_value": sum((g["cost_value"] for g in groups), ZERO),
        "retail_value": sum((g["retail_value"] for g in groups), ZERO),
        "generated_at": timezone.now(),
    }
