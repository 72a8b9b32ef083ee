"""The API's URL map (docs/architecture.md, "API"); mounted at /api/ by config.urls."""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from jewelry.api import views
from jewelry.api.tokens import EmailTokenObtainPairView, SafeTokenRefreshView

app_name = "api"

urlpatterns = [
    path("auth/token/", EmailTokenObtainPairView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", SafeTokenRefreshView.as_view(), name="token-refresh"),
    path("inventory/", views.InventoryListView.as_view(), name="inventory-list"),
    path("inventory/<int:pk>/", views.InventoryDetailView.as_view(), name="inventory-detail"),
    path("sales/", views.SaleListCreateView.as_view(), name="sales"),
    path("customers/", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/<int:pk>/", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("dashboard/stats/", views.DashboardStatsView.as_view(), name="dashboard-stats"),
    # Public, so a fuzzer or client generator can read it without a token. JSON by default
    # (`?format=yaml` or `Accept: application/vnd.oai.openapi` for YAML).
    path(
        "schema/",
        SpectacularAPIView.as_view(
            permission_classes=[AllowAny],
            authentication_classes=[],
            renderer_classes=[OpenApiJsonRenderer, OpenApiYamlRenderer],
        ),
        name="schema",
    ),
    # Last: anything else under /api/ is a JSON 404 (also `/api/inventory` without its slash).
    re_path(r"^(?P<path>.*)$", views.unknown_path, name="unknown"),
]
