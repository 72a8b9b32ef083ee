from __future__ import annotations

from django.conf import settings
from django.db import models

from jewelry.core.tenancy import TenantOwned


class Sale(TenantOwned):
    class Status(models.TextChoices):
        COMPLETED = "completed"
        REFUNDED = "refunded"

    number = models.CharField(max_length=32)
    branch = models.ForeignKey("tenants.Branch", on_delete=models.PROTECT, related_name="sales")
    terminal = models.ForeignKey(
        "tenants.Terminal", on_delete=models.PROTECT, null=True, blank=True, related_name="sales"
    )
    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="sales"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.COMPLETED)
    # Always the sum of the sale's line totals.
    total = models.DecimalField(max_digits=14, decimal_places=2)
    loyalty_points_awarded = models.IntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta(TenantOwned.Meta):
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="sale_number_per_tenant")
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="sale_tenant_time"),
            models.Index(fields=["customer", "-created_at"], name="sale_customer_time"),
        ]

    def __str__(self) -> str:
        return self.number


class SaleLine(TenantOwned):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="sale_lines")
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_total = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="sale_line_quantity_positive"
            )
        ]
        indexes = [models.Index(fields=["item"], name="sale_line_item")]


class Payment(TenantOwned):
    class Method(models.TextChoices):
        CASH = "cash"
        CARD = "card"
        TRANSFER = "transfer"

    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="payments")
    method = models.CharField(max_length=20, choices=Method.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
