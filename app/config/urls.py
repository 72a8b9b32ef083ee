from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("jewelry.core.urls")),
    path("accounts/", include("jewelry.tenants.urls")),
    path("dashboard/", include("jewelry.dashboard.urls")),
    path("inventory/", include("jewelry.inventory.urls")),
    path("customers/", include("jewelry.customers.urls")),
    path("sales/", include("jewelry.sales.urls")),
    path("pos/", include("jewelry.sales.pos_urls")),
    path("reports/", include("jewelry.reports.urls")),
    path("api/", include("jewelry.api.urls")),
]

handler500 = "jewelry.core.errors.server_error"
