"""Inventory pages: the filtered list, one item, and the low-stock list."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from jewelry.core.listing import (
    MAX_DB_ID,
    PageQueryForm,
    bad_request_on_invalid_query,
    clean_query,
    page_of,
)
from jewelry.inventory.models import Category, Item
from jewelry.inventory.selectors import (
    MAX_SEARCH_LENGTH,
    InventoryFilters,
    inventory_list,
    item_detail,
    low_stock_list,
)

KARAT_CHOICES = [("", "any")] + [(str(k), f"{k}K") for k in Item.KARATS]


class InventoryQueryForm(PageQueryForm):
    # An unknown (or another shop's) category id is valid syntax and simply matches nothing.
    category = forms.IntegerField(min_value=1, max_value=MAX_DB_ID, required=False)
    karat = forms.TypedChoiceField(
        choices=KARAT_CHOICES, coerce=int, empty_value=None, required=False
    )
    q = forms.CharField(max_length=MAX_SEARCH_LENGTH, required=False)


@require_safe
@login_required
@bad_request_on_invalid_query
def item_list(request: HttpRequest) -> HttpResponse:
    query = clean_query(InventoryQueryForm, request)
    filters = InventoryFilters(category_id=query["category"], karat=query["karat"], q=query["q"])
    page = page_of(inventory_list(filters=filters), query["page"])
    context = {
        "page_obj": page,
        "filters": filters,
        "categories": list(Category.objects.order_by("name").only("id", "name")),
        "karat_choices": KARAT_CHOICES[1:],
    }
    return render(request, "inventory/item_list.html", context)


@require_safe
@login_required
def item_page(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        item = item_detail(item_id=pk)
    except Item.DoesNotExist:
        raise Http404("No such item in this shop.") from None
    return render(request, "inventory/item_detail.html", {"item": item})


@require_safe
@login_required
@bad_request_on_invalid_query
def low_stock(request: HttpRequest) -> HttpResponse:
    query = clean_query(PageQueryForm, request)
    page = page_of(low_stock_list(), query["page"])
    return render(request, "inventory/low_stock.html", {"page_obj": page})
