from __future__ import annotations

from django.urls import path

from jewelry.sales import views

app_name = "sales"

urlpatterns = [
    path("", views.sale_index, name="list"),
    path("<int:pk>/", views.sale_page, name="detail"),
]
