from __future__ import annotations

from django.urls import path

from jewelry.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("daily-sales/", views.daily_sales, name="daily-sales"),
    path("daily-sales/pdf/", views.daily_sales_pdf_view, name="daily-sales-pdf"),
    path("sales-by-product/", views.sales_by_product, name="sales-by-product"),
    path("customer-analytics/", views.customer_analytics, name="customer-analytics"),
    path("financial-summary/", views.financial_summary, name="financial-summary"),
    path("inventory-valuation/", views.inventory_valuation, name="inventory-valuation"),
]
