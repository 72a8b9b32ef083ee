"""Report pages: parse the parameters, fetch the (cached) figures, render them."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jewelry.reports import selectors
from jewelry.reports.caching import cached_report
from jewelry.reports.params import BadReportParameter, Period, parse_day, parse_period
from jewelry.reports.pdf import daily_sales_pdf

FINANCIAL_DEFAULT_DAYS = 30

View = Callable[..., HttpResponse]


def report_view(view: View) -> View:
    """GET only, signed in, in a shop; a bad parameter is a 400 that says which one."""

    @require_GET
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request.user, "tenant_id", None) is None:
            return HttpResponse("this account does not belong to a shop", status=403)
        try:
            return view(request, *args, **kwargs)
        except BadReportParameter as error:
            return HttpResponseBadRequest(f"{error}\n", content_type="text/plain; charset=utf-8")

    return wrapper


def _report_day(request: HttpRequest) -> Any:
    return parse_day(request.GET.get("date")) or timezone.localdate()


def _daily_sales(request: HttpRequest) -> dict[str, Any]:
    day = _report_day(request)
    return cached_report("daily-sales", day.isoformat(), lambda: selectors.daily_sales(day=day))


def _period_report(name: str, period: Period, compute: Callable[[], dict[str, Any]]) -> Any:
    return cached_report(name, period.cache_key(), compute)


@report_view
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/index.html", {"today": timezone.localdate()})


@report_view
def daily_sales(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/daily_sales.html", {"report": _daily_sales(request)})


@report_view
def daily_sales_pdf_view(request: HttpRequest) -> HttpResponse:
    report = _daily_sales(request)
    tenant = request.user.tenant  # type: ignore[union-attr]
    content = daily_sales_pdf(report, shop_name=tenant.name, currency=tenant.currency)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="daily-sales-{report["date"]}.pdf"'
    return response


@report_view
def sales_by_product(request: HttpRequest) -> HttpResponse:
    period = parse_period(request.GET)
    report = _period_report(
        "sales-by-product", period, lambda: selectors.sales_by_product(period=period)
    )
    return render(request, "reports/sales_by_product.html", {"report": report})


@report_view
def customer_analytics(request: HttpRequest) -> HttpResponse:
    period = parse_period(request.GET)
    report = _period_report(
        "customer-analytics", period, lambda: selectors.customer_analytics(period=period)
    )
    return render(request, "reports/customer_analytics.html", {"report": report})


@report_view
def financial_summary(request: HttpRequest) -> HttpResponse:
    period = parse_period(request.GET, default_days=FINANCIAL_DEFAULT_DAYS)
    report = _period_report(
        "financial-summary", period, lambda: selectors.financial_summary(period=period)
    )
    return render(request, "reports/financial_summary.html", {"report": report})


@report_view
def inventory_valuation(request: HttpRequest) -> HttpResponse:
    report = cached_report("inventory-valuation", "all", selectors.inventory_valuation)
    return render(request, "reports/inventory_valuation.html", {"report": report})
