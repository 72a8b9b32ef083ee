"""Small, explicit builders of tenant data for the app's tests (the seed makes the big volumes)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from jewelry.customers.models import Customer, LoyaltyTier
from jewelry.inventory.models import Category, Item
from jewelry.tenants.models import Branch, Tenant, Terminal, User

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class Shop:
    tenant: Tenant
    user: User
    branch: Branch
    terminal: Terminal
    categories: list[Category]
    tiers: dict[str, LoyaltyTier]
    items: list[Item] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)


TIERS = (("Bronze", 0, "0"), ("Silver", 500, "2.5"), ("Gold", 2000, "5"), ("Platinum", 5000, "10"))
CATEGORIES = ("Rings", "Necklaces", "Bracelets", "Earrings")


def make_shop(*, items: int = 5, customers: int = 3, name: str | None = None) -> Shop:
    n = next(_counter)
    tenant = Tenant.objects.create(name=name or f"Shop {n}", slug=f"shop-{n}")
    user = User.objects.create_user(
        email=f"cashier{n}@shop{n}.test", password=PASSWORD, tenant=tenant, role="cashier"
    )
    branch = Branch.unscoped.create(tenant=tenant, name="Main", code=f"B{n}")
    terminal = Terminal.unscoped.create(tenant=tenant, branch=branch, code=f"POS-{n}")
    categories = [
        Category.unscoped.create(tenant=tenant, name=c, slug=c.lower()) for c in CATEGORIES
    ]
    tiers = {
        name: LoyaltyTier.unscoped.create(
            tenant=tenant, name=name, min_points=points, discount_percent=Decimal(discount)
        )
        for name, points, discount in TIERS
    }
    shop = Shop(tenant, user, branch, terminal, categories, tiers)
    for i in range(items):
        shop.items.append(make_item(shop, index=i))
    for i in range(customers):
        shop.customers.append(
            Customer.unscoped.create(
                tenant=tenant,
                first_name=f"First{i}",
                last_name=f"Last{n}x{i}",
                email=f"customer{i}@shop{n}.test",
                tier=tiers["Bronze"],
            )
        )
    return shop


def make_item(shop: Shop, *, index: int = 0, quantity: int = 10, **overrides: object) -> Item:
    karat = Item.KARATS[index % len(Item.KARATS)]
    values: dict[str, object] = {
        "tenant": shop.tenant,
        "sku": f"SKU-{shop.tenant.pk}-{index:05d}",
        "name": f"{karat}K gold ring {index}",
        "category": shop.categories[index % len(shop.categories)],
        "branch": shop.branch,
        "metal": "gold",
        "karat": karat,
        "weight_grams": Decimal("3.500"),
        "gemstone": "diamond" if index % 2 else "",
        "cost": Decimal("100.00"),
        "price": Decimal("250.00") + index,
        "quantity": quantity,
        "low_stock_threshold": 2,
    }
    values.update(overrides)
    return Item.unscoped.create(**values)
