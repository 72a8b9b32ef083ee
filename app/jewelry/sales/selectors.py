"""Reads of the sales domain."""

from __future__ import annotations

from django.db.models import QuerySet

from jewelry.sales.models import Sale


def sale_list() -> QuerySet[Sale]:
    return Sale.objects.select_related("customer", "cashier", "branch").order_by(
        "-created_at", "-id"
    )


def sale_detail(*, sale_id: int) -> Sale:
    return (
        Sale.objects.select_related("customer", "cashier", "branch", "terminal")
        .prefetch_related("lines__item", "payments")
        .get(pk=sale_id)
    )
