"""The tables the seed writes, their COPY column order, and which are big.

Names and columns come from the app's migrations (app/jewelry/*/migrations). The order of
TABLES is the foreign-key order: parents first, so loading follows it and deleting reverses it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    big: bool = False  # secondary indexes and constraints are rebuilt around the load
    label: str = ""

    @property
    def column_list(self) -> str:
        return ", ".join(self.columns)


TENANT = Table(
    "tenants_tenant",
    ("id", "name", "slug", "currency", "generated_by", "created_at"),
    label="tenants",
)
USER = Table(
    "tenants_user",
    ("id", "password", "last_login", "is_superuser", "username", "first_name", "last_name",
     "is_staff", "is_active", "date_joined", "email", "role", "tenant_id"),
    label="users",
)  # fmt: skip
BRANCH = Table("tenants_branch", ("id", "name", "code", "tenant_id"), label="branches")
TERMINAL = Table("tenants_terminal", ("id", "code", "branch_id", "tenant_id"), label="terminals")
CATEGORY = Table("inventory_category", ("id", "name", "slug", "tenant_id"), label="categories")
TIER = Table(
    "customers_loyaltytier", ("id", "name", "min_points", "discount_percent", "tenant_id"),
    label="tiers",
)  # fmt: skip
ITEM = Table(
    "inventory_item",
    ("id", "sku", "name", "metal", "karat", "weight_grams", "gemstone", "cost", "price",
     "quantity", "low_stock_threshold", "created_at", "updated_at", "category_id", "branch_id",
     "tenant_id"),
    big=True, label="items",
)  # fmt: skip
CUSTOMER = Table(
    "customers_customer",
    ("id", "first_name", "last_name", "email", "phone", "loyalty_points", "created_at",
     "tenant_id", "tier_id"),
    big=True, label="customers",
)  # fmt: skip
SALE = Table(
    "sales_sale",
    ("id", "number", "status", "total", "loyalty_points_awarded", "created_at", "branch_id",
     "cashier_id", "customer_id", "tenant_id", "terminal_id"),
    big=True, label="sales",
)  # fmt: skip
SALE_LINE = Table(
    "sales_saleline",
    ("id", "quantity", "unit_price", "line_total", "item_id", "sale_id", "tenant_id"),
    big=True, label="sale lines",
)  # fmt: skip
PAYMENT = Table(
    "sales_payment", ("id", "method", "amount", "sale_id", "tenant_id"), big=True, label="payments"
)
LEDGER = Table(
    "customers_loyaltyledgerentry",
    ("id", "points", "reason", "created_at", "customer_id", "sale_id", "tenant_id"),
    big=True, label="ledger entries",
)  # fmt: skip

TABLES = (
    TENANT,
    USER,
    BRANCH,
    TERMINAL,
    CATEGORY,
    TIER,
    ITEM,
    CUSTOMER,
    SALE,
    SALE_LINE,
    PAYMENT,
    LEDGER,
)
BIG_TABLES = tuple(t for t in TABLES if t.big)
# Rows hanging off lab users that the seed never writes but must delete with them.
USER_LINK_TABLES = ("tenants_user_groups", "tenants_user_user_permissions")
