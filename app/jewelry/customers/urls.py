from __future__ import annotations

from django.urls import path

from jewelry.customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_index, name="list"),
    path("<int:pk>/", views.customer_profile, name="detail"),
]
