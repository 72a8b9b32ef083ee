from __future__ import annotations

from django.urls import path

from jewelry.core.health import healthz
from jewelry.observability.views import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
]
