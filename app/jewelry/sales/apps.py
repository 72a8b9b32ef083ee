from __future__ import annotations

from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "jewelry.sales"
    label = "sales"
