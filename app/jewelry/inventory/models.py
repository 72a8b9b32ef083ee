from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper

from jewelry.core.tenancy import TenantOwned


class Category(TenantOwned):
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80)

    class Meta(TenantOwned.Meta):
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="category_slug_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class Metal(models.TextChoices):
    GOLD = "gold"
    SILVER = "silver"
    PLATINUM = "platinum"


class Item(TenantOwned):
    KARATS = (10, 14, 18, 22, 24)

    sku = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="items")
    branch = models.ForeignKey("tenants.Branch", on_delete=models.PROTECT, related_name="items")
    metal = models.CharField(max_length=20, choices=Metal.choices)
    # Gold purity in karats; null for silver and platinum, whose purity is their fineness.
    karat = models.PositiveSmallIntegerField(null=True, blank=True)
    weight_grams = models.DecimalField(max_digits=8, decimal_places=3)
    gemstone = models.CharField(max_length=40, blank=True, default="")
    cost = models.DecimalField(max_digits=12, decimal_places=2)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.IntegerField(default=0)
    low_stock_threshold = models.IntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sku"], name="item_sku_per_tenant"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="item_stock_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "name", "id"], name="item_tenant_name"),
            models.Index(fields=["tenant", "category", "name"], name="item_tenant_category"),
            models.Index(fields=["tenant", "karat", "name"], name="item_tenant_karat"),
            models.Index(fields=["tenant", "branch"], name="item_tenant_branch"),
            # Search is `name ILIKE %q%` / `sku ILIKE %q%`: trigram indexes serve both.
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="item_name_trgm"),
            GinIndex(OpClass(Upper("sku"), name="gin_trgm_ops"), name="item_sku_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def is_low_stock(self) -> bool:
        return self.quantity <= self.low_stock_threshold
