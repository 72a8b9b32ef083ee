from __future__ import annotations

from django.urls import path

from jewelry.sales import pos_views

app_name = "pos"

urlpatterns = [
    path("", pos_views.pos_page, name="page"),
    path("search/", pos_views.pos_search, name="search"),
    path("customers/", pos_views.pos_customers, name="customers"),
    path("checkout/", pos_views.pos_checkout, name="checkout"),
]
