"""The dashboard: the shop's headline figures, from the tenant-keyed Redis cache."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from jewelry.dashboard.selectors import dashboard_stats


@require_safe
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    # No other query here: with the cache warm the page costs the session's user and tenant.
    return render(request, "dashboard/dashboard.html", {"stats": dashboard_stats()})
