"""What the seed writes: exact volumes per scale, and the business invariants of the data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from seed.scales import SCALES
from tests.seed.support import TINY, ok, table_count

pytestmark = pytest.mark.django_db(transaction=True)

DOC_VOLUMES = {
    "tenants_tenant": 1,
    "tenants_user": 1,
    "tenants_branch": 1,
    "tenants_terminal": 1,
    "inventory_category": 8,
    "inventory_item": 500,
    "customers_loyaltytier": 4,
    "customers_customer": 200,
    "sales_sale": 100,
}


def scale_volumes(name: str) -> dict[str, int]:
    scale = SCALES[name]
    return {
        "tenants_tenant": scale.tenants,
        "tenants_user": scale.tenants * scale.users_per_tenant,
        "tenants_branch": scale.tenants * scale.branches_per_tenant,
        "tenants_terminal": scale.tenants * scale.branches_per_tenant * scale.terminals_per_branch,
        "inventory_category": scale.tenants * 8,
        "inventory_item": scale.items,
        "customers_loyaltytier": scale.tenants * 4,
        "customers_customer": scale.customers,
        "sales_sale": scale.sales,
    }


def test_doc_scale_is_exactly_the_source_documents_data_set(run_seed: Callable, runs_dir: Path):
    ok(run_seed("--scale", "doc"))
    assert scale_volumes("doc") == DOC_VOLUMES
    assert {table: table_count(table) for table in DOC_VOLUMES} == DOC_VOLUMES
    credentials = json.loads((runs_dir / "credentials.json").read_text())
    assert credentials["scale"] == "doc"
    assert credentials["password_hasher"] == "argon2"
    assert len(credentials["users"]) == 1


def test_small_scale_volumes_and_per_table_overrides(run_seed: Callable):
    ok(run_seed("--scale", "small", "--items", "1234", "--sales", "345"))
    expected = scale_volumes("small") | {"inventory_item": 1234, "sales_sale": 345}
    assert {table: table_count(table) for table in expected} == expected


@pytest.fixture
def tiny_seeded(run_seed: Callable) -> None:
    ok(run_seed(*TINY))


def rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_sale_totals_equal_their_lines_and_payments(tiny_seeded: None):
    assert (
        rows("""
        SELECT s.id FROM sales_sale s JOIN sales_saleline l ON l.sale_id = s.id
        GROUP BY s.id HAVING s.total <> sum(l.line_total)""")
        == []
    )
    assert rows("SELECT id FROM sales_saleline WHERE line_total <> unit_price * quantity") == []
    assert (
        rows("""
        SELECT s.id FROM sales_sale s LEFT JOIN sales_payment p ON p.sale_id = s.id
        GROUP BY s.id HAVING s.total <> coalesce(sum(p.amount), 0)""")
        == []
    )
    assert rows("SELECT id FROM sales_sale s WHERE NOT EXISTS "
                "(SELECT 1 FROM sales_saleline l WHERE l.sale_id = s.id)") == []  # fmt: skip
    # A line sells an item at its catalogue price.
    assert rows("SELECT l.id FROM sales_saleline l JOIN inventory_item i ON i.id = l.item_id "
                "WHERE l.unit_price <> i.price") == []  # fmt: skip


def test_stock_is_never_negative_and_most_items_can_be_sold(tiny_seeded: None):
    assert table_count("inventory_item", "WHERE quantity < 0") == 0
    in_stock = table_count("inventory_item", "WHERE quantity > 0")
    assert in_stock >= 0.8 * table_count("inventory_item")


def test_loyalty_points_equal_the_ledger_and_decide_the_tier(tiny_seeded: None):
    assert (
        rows("""
        SELECT c.id FROM customers_customer c
        LEFT JOIN customers_loyaltyledgerentry e ON e.customer_id = c.id
        GROUP BY c.id HAVING c.loyalty_points <> coalesce(sum(e.points), 0)""")
        == []
    )
    # The tier is the highest whose threshold the points reach, as the app upgrades it.
    assert (
        rows("""
        SELECT c.id FROM customers_customer c JOIN customers_loyaltytier t ON t.id = c.tier_id
        WHERE t.min_points > c.loyalty_points OR EXISTS (
          SELECT 1 FROM customers_loyaltytier u WHERE u.tenant_id = c.tenant_id
          AND u.min_points <= c.loyalty_points AND u.min_points > t.min_points)""")
        == []
    )
    # Points awarded per sale: one per 10 currency units, only with a customer, in the ledger.
    assert (
        rows("""
        SELECT id FROM sales_sale WHERE loyalty_points_awarded <>
        CASE WHEN customer_id IS NULL THEN 0 ELSE floor(total / 10) END""")
        == []
    )
    assert (
        rows("""
        SELECT s.id FROM sales_sale s WHERE s.loyalty_points_awarded > 0 AND NOT EXISTS (
          SELECT 1 FROM customers_loyaltyledgerentry e WHERE e.sale_id = s.id
          AND e.points = s.loyalty_points_awarded AND e.customer_id = s.customer_id)""")
        == []
    )
    assert table_count("customers_customer", "WHERE loyalty_points > 0") > 0


PARENT_CHECKS = {
    "sale line vs sale": "sales_saleline c JOIN sales_sale p ON p.id = c.sale_id",
    "sale line vs item": "sales_saleline c JOIN inventory_item p ON p.id = c.item_id",
    "payment vs sale": "sales_payment c JOIN sales_sale p ON p.id = c.sale_id",
    "sale vs branch": "sales_sale c JOIN tenants_branch p ON p.id = c.branch_id",
    "sale vs terminal": "sales_sale c JOIN tenants_terminal p ON p.id = c.terminal_id",
    "sale vs customer": "sales_sale c JOIN customers_customer p ON p.id = c.customer_id",
    "sale vs cashier": "sales_sale c JOIN tenants_user p ON p.id = c.cashier_id",
    "ledger vs customer": "customers_loyaltyledgerentry c JOIN customers_customer p ON p.id = c.customer_id",  # noqa: E501
    "ledger vs sale": "customers_loyaltyledgerentry c JOIN sales_sale p ON p.id = c.sale_id",
    "item vs category": "inventory_item c JOIN inventory_category p ON p.id = c.category_id",
    "item vs branch": "inventory_item c JOIN tenants_branch p ON p.id = c.branch_id",
    "customer vs tier": "customers_customer c JOIN customers_loyaltytier p ON p.id = c.tier_id",
    "terminal vs branch": "tenants_terminal c JOIN tenants_branch p ON p.id = c.branch_id",
}


def test_every_row_belongs_to_its_parents_tenant(tiny_seeded: None):
    mismatches = {
        name: rows(f"SELECT count(*) FROM {join} WHERE c.tenant_id <> p.tenant_id")[0][0]  # noqa: S608
        for name, join in PARENT_CHECKS.items()
    }
    assert mismatches == dict.fromkeys(PARENT_CHECKS, 0)
    assert table_count("sales_sale", "WHERE customer_id IS NOT NULL") > 0


def test_sales_follow_time_rules_and_a_weekly_rhythm(tiny_seeded: None):
    # Customers joined before their first purchase; items existed before they were sold.
    assert rows("SELECT s.id FROM sales_sale s JOIN customers_customer c ON c.id = s.customer_id "
                "WHERE c.created_at > s.created_at") == []  # fmt: skip
    assert rows("SELECT l.id FROM sales_saleline l JOIN sales_sale s ON s.id = l.sale_id "
                "JOIN inventory_item i ON i.id = l.item_id WHERE i.created_at > s.created_at") == []  # fmt: skip  # noqa: E501
    months, first, last = rows(
        "SELECT count(DISTINCT date_trunc('month', created_at)), min(created_at), max(created_at) "
        "FROM sales_sale"
    )[0]
    assert months >= 11
    assert (last - first).days > 300
    by_weekday = dict(rows("SELECT extract(isodow FROM created_at)::int, count(*) "
                           "FROM sales_sale GROUP BY 1"))  # fmt: skip
    assert by_weekday[6] > by_weekday[7]  # Saturday is busier than Sunday
    hours = rows("SELECT min(extract(hour FROM created_at)), max(extract(hour FROM created_at)) "
                 "FROM sales_sale")[0]  # fmt: skip
    assert hours[0] >= 10
    assert hours[1] < 20


def test_jewelry_catalogue_is_priced_from_metal_purity_and_weight(tiny_seeded: None):
    assert rows("SELECT id FROM inventory_item WHERE price <= cost OR cost <= 0") == []
    metals = dict(rows("SELECT metal, count(*) FROM inventory_item GROUP BY metal"))
    assert set(metals) == {"gold", "silver", "platinum"}
    assert metals["gold"] > metals["silver"] > metals["platinum"]
    karats = {k for (k,) in rows("SELECT DISTINCT karat FROM inventory_item WHERE metal = 'gold'")}
    assert karats == {10, 14, 18, 22, 24}
    assert rows("SELECT id FROM inventory_item WHERE metal <> 'gold' AND karat IS NOT NULL") == []
    # Same weight class, higher purity, higher metal value: 24K gold costs more than silver.
    gold, silver = rows("""
        SELECT avg(cost / weight_grams) FILTER (WHERE metal = 'gold' AND karat = 24 AND gemstone = ''),
               avg(cost / weight_grams) FILTER (WHERE metal = 'silver' AND gemstone = '')
        FROM inventory_item""")[0]  # fmt: skip  # noqa: E501
    assert gold > 8 * silver
    assert table_count("inventory_item", "WHERE gemstone <> ''") > 0
    assert table_count("inventory_item", "WHERE quantity <= low_stock_threshold") > 0
