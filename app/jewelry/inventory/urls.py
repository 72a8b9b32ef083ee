from __future__ import annotations

from django.urls import path

from jewelry.inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.item_list, name="list"),
    path("low-stock/", views.low_stock, name="low_stock"),
    path("<int:pk>/", views.item_page, name="detail"),
]
