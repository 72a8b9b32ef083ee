"""Sales pages: the list of sales and one sale with its lines and payments.

(The POS page and its JSON endpoints live in the POS modules, not here.)
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from jewelry.core.listing import PageQueryForm, bad_request_on_invalid_query, clean_query, page_of
from jewelry.sales.models import Sale
from jewelry.sales.selectors import sale_detail, sale_list


@require_safe
@login_required
@bad_request_on_invalid_query
def sale_index(request: HttpRequest) -> HttpResponse:
    query = clean_query(PageQueryForm, request)
    page = page_of(sale_list(), query["page"])
    return render(request, "sales/sale_list.html", {"page_obj": page})


@require_safe
@login_required
def sale_page(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        sale = sale_detail(sale_id=pk)
    except Sale.DoesNotExist:
        raise Http404("No such sale in this shop.") from None
    return render(request, "sales/sale_detail.html", {"sale": sale})
