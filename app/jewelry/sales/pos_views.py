"""The point of sale: one HTML page and the three JSON endpoints its script calls.

Every endpoint runs in the signed-in user's tenant (TenantMiddleware); lookups go through the
tenant-scoped managers, so another shop's items and customers are never listed and their ids
are refused by `sale_create` like unknown ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from jewelry.customers.selectors import customer_list
from jewelry.inventory.selectors import MAX_SEARCH_LENGTH, InventoryFilters, inventory_list
from jewelry.sales.checkout_input import CheckoutInputError, checkout
from jewelry.sales.models import Payment, Sale, SaleLine
from jewelry.sales.services import CENT, CheckoutError, PaymentRequest
from jewelry.tenants.models import Terminal

MAX_RESULTS = 20

View = Callable[..., HttpResponse]


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def json_login_required(view: View) -> View:
    """Like login_required, but a script gets a JSON 401 instead of a redirect to a form."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _error(401, "not_authenticated", "sign in at /accounts/login/ first")
        if getattr(request.user, "tenant_id", None) is None:
            return _error(403, "no_tenant", "this account does not belong to a shop")
        return view(request, *args, **kwargs)

    return wrapper


def _search_term(request: HttpRequest) -> str | JsonResponse:
    q = request.GET.get("q", "").strip()
    if len(q) > MAX_SEARCH_LENGTH:
        return _error(400, "invalid_query", f"q is at most {MAX_SEARCH_LENGTH} characters")
    if "\x00" in q:  # PostgreSQL text cannot hold NUL; refuse it here rather than fail there
        return _error(400, "invalid_query", "q must not contain NUL characters")
    return q


def product_search(q: str) -> list[dict[str, Any]]:
    """Up to MAX_RESULTS matching items, those in stock first, each flagged `in_stock`."""
    in_stock = ExpressionWrapper(Q(quantity__gt=0), output_field=BooleanField())
    # values() fetches just the columns the cart needs, in one query whatever the faults.
    rows = (
        inventory_list(filters=InventoryFilters(q=q))
        .annotate(in_stock=in_stock)
        .order_by("-in_stock", "name", "id")
        .values("id", "sku", "name", "price", "quantity", "in_stock", "tenant_id")[:MAX_RESULTS]
    )
    return [{**row, "price": str(row["price"])} for row in rows]


@require_GET
@login_required
def pos_page(request: HttpRequest) -> HttpResponse:
    if request.user.tenant_id is None:  # type: ignore[union-attr]
        return HttpResponse("this account does not belong to a shop", status=403)
    terminals = Terminal.objects.select_related("branch").order_by("code")
    return render(
        request,
        "sales/pos.html",
        {
            "terminals": terminals,
            "payment_methods": Payment.Method.values,
            "products": product_search(""),
        },
    )


@require_GET
@json_login_required
def pos_search(request: HttpRequest) -> HttpResponse:
    q = _search_term(request)
    if isinstance(q, JsonResponse):
        return q
    return JsonResponse({"results": product_search(q)})


@require_GET
@json_login_required
def pos_customers(request: HttpRequest) -> HttpResponse:
    q = _search_term(request)
    if isinstance(q, JsonResponse):
        return q
    results = [
        {
            "id": customer.pk,
            "name": customer.full_name,
            "email": customer.email,
            "loyalty_points": customer.loyalty_points,
            "tier": customer.tier.name,
            "tenant_id": customer.tenant_id,
        }
        for customer in customer_list(q=q)[:MAX_RESULTS]
    ]
    return JsonResponse({"results": results})


def _reject_constant(name: str) -> Decimal:
    raise CheckoutInputError(f"{name} is not a number JSON allows")


def _decode_body(request: HttpRequest) -> object:
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckoutInputError("the body must be UTF-8 encoded JSON") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (json.JSONDecodeError, RecursionError) as error:
        raise CheckoutInputError(f"the body is not valid JSON: {error}") from None


def sale_as_dict(sale: Sale, payments: Sequence[PaymentRequest]) -> dict[str, object]:
    """The created sale; `payments` are the ones sale_create just stored (saves a query)."""
    lines = SaleLine.objects.filter(sale=sale).select_related("item").order_by("id")
    return {
        "id": sale.pk,
        "number": sale.number,
        "tenant_id": sale.tenant_id,
        "status": sale.status,
        "total": str(sale.total),
        "created_at": sale.created_at.isoformat(),
        "branch_id": sale.branch_id,
        "terminal_id": sale.terminal_id,
        "customer_id": sale.customer_id,
        "cashier_id": sale.cashier_id,
        "loyalty_points_awarded": sale.loyalty_points_awarded,
        "lines": [
            {
                "item_id": line.item_id,
                "sku": line.item.sku,
                "name": line.item.name,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "line_total": str(line.line_total),
                "tenant_id": line.tenant_id,
            }
            for line in lines
        ],
        "payments": [
            {
                "method": p.method,
                "amount": str(p.amount.quantize(CENT)),
                "tenant_id": sale.tenant_id,
            }
            for p in payments
        ],
    }


@require_POST
@json_login_required
def pos_checkout(request: HttpRequest) -> HttpResponse:
    """Sell the cart. CSRF is enforced by the middleware (header `X-CSRFToken`)."""
    try:
        sale, payments = checkout(_decode_body(request), cashier=request.user)  # type: ignore[arg-type]
    except (CheckoutInputError, CheckoutError) as error:
        return JsonResponse(error.as_dict(), status=error.status)
    return JsonResponse(sale_as_dict(sale, payments), status=201)
