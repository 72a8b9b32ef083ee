"""Query-string parsing and pagination shared by the HTML list pages.

Rules, the same on every list page:
- query parameters are parsed by a Django form; an invalid value (non-numeric id, unknown
  karat, over-long search, NUL byte) is a 400 page naming the parameter, never a 500;
- 25 rows per page; `page` must be a whole number >= 1 (else 400), and a page beyond the end
  shows the last page (a stale link still lands somewhere useful; never a 404 or 500).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django import forms
from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

PAGE_SIZE = 25
MAX_DB_ID = 2**63 - 1  # bigint: larger ids cannot exist, and must not reach PostgreSQL

P = ParamSpec("P")
FormT = TypeVar("FormT", bound=forms.Form)


class InvalidQuery(Exception):
    """A query parameter the page cannot use; shown to the client as a 400."""


class PageQueryForm(forms.Form):
    page = forms.IntegerField(min_value=1, required=False)


def clean_query(form_class: type[FormT], request: HttpRequest) -> dict[str, Any]:
    form = form_class(request.GET)
    if not form.is_valid():
        problems = [
            f"{field}: {' '.join(str(error) for error in errors)}"
            for field, errors in form.errors.items()
        ]
        raise InvalidQuery("Invalid query parameter. " + "; ".join(problems))
    return form.cleaned_data


def page_of(queryset: QuerySet[Any], number: int | None) -> Page:
    """One page of `queryset`: a count query plus the page's query, whatever the page size."""
    paginator = Paginator(queryset, PAGE_SIZE)
    try:
        return paginator.page(number or 1)
    except EmptyPage:
        return paginator.page(paginator.num_pages)


def bad_request_on_invalid_query(
    view: Callable[P, HttpResponse],
) -> Callable[P, HttpResponse]:
    """Turns InvalidQuery raised by a view into a 400 page with the message."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        try:
            return view(*args, **kwargs)
        except InvalidQuery as problem:
            request = args[0]
            assert isinstance(request, HttpRequest)
            return render(request, "core/bad_request.html", {"message": str(problem)}, status=400)

    return wrapper
