"""Dashboard statistics: a handful of aggregates, cached per tenant in Redis."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Sum
from django.utils import timezone

from jewelry.core import faults
from jewelry.core.caching import tenant_cached
from jewelry.core.tenancy import active_tenant_id
from jewelry.customers.models import Customer
from jewelry.inventory.models import Item
from jewelry.sales.models import Sale


def _compute_stats() -> dict[str, Any]:
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sales_today = Sale.objects.filter(created_at__gte=today).aggregate(
        count=Count("id"), revenue=Sum("total")
    )
    sales_30d = Sale.objects.filter(created_at__gte=now - timedelta(days=30)).aggregate(
        count=Count("id"), revenue=Sum("total")
    )
    stock = Item.objects.aggregate(
        items=Count("id"), units=Sum("quantity"), value=Sum(F("price") * F("quantity"))
    )
    return {
        "tenant_id": active_tenant_id(),
        "sales_today": sales_today["count"],
        "revenue_today": str(sales_today["revenue"] or Decimal("0.00")),
        "sales_30d": sales_30d["count"],
        "revenue_30d": str(sales_30d["revenue"] or Decimal("0.00")),
        "inventory_items": stock["items"],
        "inventory_units": stock["units"] or 0,
        "inventory_value": str(stock["value"] or Decimal("0.00")),
        "low_stock_items": Item.objects.filter(quantity__lte=F("low_stock_threshold")).count(),
        "customers": Customer.objects.count(),
        "generated_at": now.isoformat(),
    }


def dashboard_stats() -> dict[str, Any]:
    if faults.enabled("cache_off"):
        return _compute_stats()
    return tenant_cached(
        "dashboard", "dashboard:stats", settings.DASHBOARD_CACHE_SECONDS, _compute_stats
    )
