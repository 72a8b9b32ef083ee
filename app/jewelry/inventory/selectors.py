"""Reads of the inventory domain, shared by the HTML pages, the POS and the API."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Concat, Lower

from jewelry.core import faults
from jewelry.inventory.models import Item

MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True)
class InventoryFilters:
    category_id: int | None = None
    karat: int | None = None
    q: str = ""


def _search(queryset: QuerySet[Item], q: str) -> QuerySet[Item]:
    if faults.enabled("slow_search"):
        # The defect: matching on an expression no index covers forces a sequential scan.
        return queryset.annotate(
            haystack=Lower(Concat(F("sku"), Value(" "), F("name"), Value(" "), F("gemstone")))
        ).filter(haystack__contains=q.lower())
    return queryset.filter(name__icontains=q) | queryset.filter(sku__icontains=q)


def inventory_list(*, filters: InventoryFilters) -> QuerySet[Item]:
    """The active tenant's items, filtered; category and branch come in the same query."""
    # The tenant_leak defect: the list forgets its tenant scope (every shop's items).
    queryset = Item.unscoped.all() if faults.enabled("tenant_leak") else Item.objects.all()
    if not faults.enabled("n_plus_one"):
        queryset = queryset.select_related("category", "branch")
    if filters.category_id is not None:
        queryset = queryset.filter(category_id=filters.category_id)
    if filters.karat is not None:
        queryset = queryset.filter(karat=filters.karat)
    if filters.q:
        queryset = _search(queryset, filters.q[:MAX_SEARCH_LENGTH])
    return queryset.order_by("name", "id")


def low_stock_list() -> QuerySet[Item]:
    return (
        Item.objects.filter(quantity__lte=F("low_stock_threshold"))
        .select_related("category", "branch")
        .order_by("quantity", "name", "id")
    )


def item_detail(*, item_id: int) -> Item:
    """Raises Item.DoesNotExist for unknown ids and other tenants' ids alike."""
    return Item.objects.select_related("category", "branch").get(pk=item_id)
