from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper

from jewelry.core.tenancy import TenantOwned


class LoyaltyTier(TenantOwned):
    name = models.CharField(max_length=40)  # Bronze, Silver, Gold, Platinum
    min_points = models.IntegerField(default=0)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)

    class Meta(TenantOwned.Meta):
        ordering = ["min_points"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="tier_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class Customer(TenantOwned):
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    tier = models.ForeignKey(LoyaltyTier, on_delete=models.PROTECT, related_name="customers")
    # Kept equal to the sum of this customer's ledger entries (the ledger is the truth).
    loyalty_points = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwned.Meta):
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(
                fields=["tenant", "last_name", "first_name", "id"], name="customer_tenant_name"
            ),
            GinIndex(OpClass(Upper("last_name"), name="gin_trgm_ops"), name="customer_last_trgm"),
            GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="customer_email_trgm"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class LoyaltyLedgerEntry(TenantOwned):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ledger")
    sale = models.ForeignKey(
        "sales.Sale", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    points = models.IntegerField()
    reason = models.CharField(max_length=40, default="purchase")
    created_at = models.DateTimeField()

    class Meta(TenantOwned.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="ledger_customer_time")]
