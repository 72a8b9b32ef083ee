from __future__ import annotations

from django.urls import path

from jewelry.core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
]
