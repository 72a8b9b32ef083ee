"""Reads of the customers domain."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from jewelry.customers.models import Customer, LoyaltyLedgerEntry
from jewelry.inventory.selectors import MAX_SEARCH_LENGTH
from jewelry.sales.models import Sale


def customer_list(*, q: str = "") -> QuerySet[Customer]:
    queryset = Customer.objects.select_related("tier")
    if q:
        q = q[:MAX_SEARCH_LENGTH]
        queryset = queryset.filter(
            Q(last_name__icontains=q) | Q(first_name__icontains=q) | Q(email__icontains=q)
        )
    return queryset.order_by("last_name", "first_name", "id")


def customer_detail(*, customer_id: int) -> Customer:
    return Customer.objects.select_related("tier").get(pk=customer_id)


def customer_ledger(*, customer: Customer, limit: int = 50) -> QuerySet[LoyaltyLedgerEntry]:
    return LoyaltyLedgerEntry.objects.filter(customer=customer).order_by("-created_at", "-id")[
        :limit
    ]


def customer_purchases(*, customer: Customer, limit: int = 50) -> QuerySet[Sale]:
    return (
        Sale.objects.filter(customer=customer)
        .prefetch_related("lines__item")
        .order_by("-created_at", "-id")[:limit]
    )
