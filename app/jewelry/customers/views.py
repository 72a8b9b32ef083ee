"""Customer pages: the searchable list and a customer's profile."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from jewelry.core.listing import PageQueryForm, bad_request_on_invalid_query, clean_query, page_of
from jewelry.customers.models import Customer
from jewelry.customers.selectors import (
    customer_detail,
    customer_ledger,
    customer_list,
    customer_purchases,
)
from jewelry.inventory.selectors import MAX_SEARCH_LENGTH

PROFILE_ROWS = 20  # ledger entries and purchases shown on a profile


class CustomerQueryForm(PageQueryForm):
    q = forms.CharField(max_length=MAX_SEARCH_LENGTH, required=False)


@require_safe
@login_required
@bad_request_on_invalid_query
def customer_index(request: HttpRequest) -> HttpResponse:
    query = clean_query(CustomerQueryForm, request)
    page = page_of(customer_list(q=query["q"]), query["page"])
    return render(request, "customers/customer_list.html", {"page_obj": page, "q": query["q"]})


@require_safe
@login_required
def customer_profile(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        customer = customer_detail(customer_id=pk)
    except Customer.DoesNotExist:
        raise Http404("No such customer in this shop.") from None
    context = {
        "customer": customer,
        "ledger": customer_ledger(customer=customer, limit=PROFILE_ROWS),
        "purchases": customer_purchases(customer=customer, limit=PROFILE_ROWS),
    }
    return render(request, "customers/customer_detail.html", context)
