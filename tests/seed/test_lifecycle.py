"""Determinism, idempotency, foreign data, reset, and a half-written load that must roll back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from jewelry.inventory.models import Category, Item
from jewelry.tenants.models import Branch, Tenant
from seed.clock import DEFAULT_END, Clock
from seed.generate import Pools, plan_tenants
from seed.scales import resolve
from tests.seed.support import TINY, lab_tenant_count, ok, one_error_line, table_count

pytestmark = pytest.mark.django_db(transaction=True)


def content_hash(run_seed: Callable) -> str:
    result = ok(run_seed("--hash"))
    digest = result.stdout.strip()
    assert len(digest) == 64
    return digest


def test_same_seed_same_bytes_through_pgbouncer_and_directly(run_seed: Callable):
    ok(run_seed(*TINY, "--random-seed", "7"))
    first = content_hash(run_seed)
    ok(run_seed("--reset"))
    assert lab_tenant_count() == 0
    ok(run_seed(*TINY, "--random-seed", "7", direct=True))  # straight to PostgreSQL this time
    assert content_hash(run_seed) == first
    ok(run_seed("--reset"))
    ok(run_seed(*TINY, "--random-seed", "8"))
    assert content_hash(run_seed) != first


def test_second_run_does_nothing_and_says_so(run_seed: Callable, runs_dir: Path):
    ok(run_seed(*TINY))
    before = content_hash(run_seed)
    credentials = (runs_dir / "credentials.json").read_text()
    (runs_dir / "credentials.json").unlink()
    again = ok(run_seed(*TINY))
    assert "already there" in again.stderr
    assert "nothing to do" in again.stderr
    assert content_hash(run_seed) == before
    # The accounts derive from the random seed: a lost credentials file comes back identical.
    assert (runs_dir / "credentials.json").read_text() == credentials


def test_different_parameters_over_lab_data_ask_for_reset(run_seed: Callable):
    ok(run_seed(*TINY))
    items = table_count("inventory_item")
    line = one_error_line(run_seed(*TINY, "--items", "400"))
    assert "--reset" in line
    assert "items" in line
    assert "that is scale" not in line  # data of no named scale: nothing to name
    assert table_count("inventory_item") == items


def test_refusal_names_the_scale_the_data_has(run_seed: Callable):
    # `make lab-up` relays this line when .env's scale is not the data's: it must say which.
    ok(run_seed("--scale", "doc"))
    line = one_error_line(run_seed("--scale", "small", "--tenants", "1"))
    assert "that is scale 'doc'" in line
    assert table_count("inventory_item") == 500


def summary_and_lines() -> tuple[tuple, tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(units), sum(revenue) FROM reports_itemsalestotal")
        summary = cursor.fetchone()
        cursor.execute(
            "SELECT count(DISTINCT (l.tenant_id, l.item_id)), sum(l.quantity), sum(l.line_total) "
            "FROM sales_saleline l JOIN sales_sale s ON s.id = l.sale_id "
            "WHERE s.status = 'completed'"
        )
        return summary, cursor.fetchone()


def test_the_reports_summary_follows_the_seed_and_the_reset(run_seed: Callable):
    # The seed's COPY bypasses the checkout: it rebuilds the summary the reports read.
    ok(run_seed(*TINY))
    summary, lines = summary_and_lines()
    assert summary[0] > 0
    assert summary == lines
    ok(run_seed("--reset"))
    assert summary_and_lines()[0] == (0, None, None)


@pytest.fixture
def foreign_shop() -> Tenant:
    tenant = Tenant.objects.create(name="Real Customer Shop", slug="real-customer-shop")
    branch = Branch.unscoped.create(tenant=tenant, name="Main", code="B1")
    category = Category.unscoped.create(tenant=tenant, name="Rings", slug="rings")
    Item.unscoped.create(
        tenant=tenant, sku="REAL-1", name="Their ring", category=category, branch=branch,
        metal="gold", karat=18, weight_grams="3.000", cost="100.00", price="250.00", quantity=3,
    )  # fmt: skip
    return tenant


def test_refuses_a_database_with_foreign_tenants_unless_forced(
    run_seed: Callable, foreign_shop: Tenant
):
    line = one_error_line(run_seed(*TINY))
    assert "did not generate" in line
    assert "--force" in line
    assert lab_tenant_count() == 0
    ok(run_seed(*TINY, "--force"))
    assert lab_tenant_count() == 2
    # The app's own sequence continues past the seeded ids: a new row gets a fresh id.
    extra = Item.unscoped.create(
        tenant=foreign_shop, sku="REAL-2", name="Another", category=Category.unscoped.get(
            tenant=foreign_shop), branch=Branch.unscoped.get(tenant=foreign_shop), metal="silver",
        weight_grams="1.000", cost="1.00", price="2.00",
    )  # fmt: skip
    assert extra.pk > Item.unscoped.exclude(pk=extra.pk).order_by("-pk").first().pk


def test_reset_removes_only_lab_data(run_seed: Callable, runs_dir: Path, foreign_shop: Tenant):
    ok(run_seed(*TINY, "--force"))
    assert (runs_dir / "credentials.json").exists()
    ok(run_seed("--reset"))
    assert lab_tenant_count() == 0
    assert list(Tenant.objects.values_list("slug", flat=True)) == ["real-customer-shop"]
    assert list(Item.unscoped.values_list("sku", flat=True)) == ["REAL-1"]
    assert table_count("sales_sale") == table_count("customers_customer") == 0
    assert not (runs_dir / "credentials.json").exists()


def index_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        return {name for (name,) in cursor.fetchall()}


def constraint_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        )
        return {name for (name,) in cursor.fetchall()}


def test_a_failing_load_leaves_nothing_behind(run_seed: Callable, runs_dir: Path):
    indexes, constraints = index_names(), constraint_names()
    assert "item_name_trgm" in indexes
    assert "item_sku_per_tenant" in constraints
    # A foreign tenant already owns the slug the seed will give its second tenant: the COPY of
    # tenants fails after the first tenant's rows and the big tables' indexes were dropped.
    scale = resolve("small", {"tenants": 2, "users_per_tenant": 2, "items": 300,
                              "customers": 80, "sales": 250})  # fmt: skip
    plans = plan_tenants(20_261_101, scale, Pools.build(20_261_101), Clock(DEFAULT_END))
    Tenant.objects.create(name="Squatter", slug=plans[1].slug)
    result = run_seed(*TINY, "--force")
    assert result.returncode == 1
    # Progress came first; the failure itself is one line, the last.
    errors = [line for line in result.stderr.splitlines() if line.startswith("seed: ")]
    assert errors == [result.stderr.splitlines()[-1]]
    assert "tenants_tenant_slug_key" in errors[0]
    assert "rolled back" in errors[0]
    assert lab_tenant_count() == 0
    assert table_count("inventory_item") == table_count("tenants_user") == 0
    assert index_names() == indexes
    assert constraint_names() == constraints
    assert not (runs_dir / "credentials.json").exists()


def test_credentials_file_lists_every_lab_account(run_seed: Callable, runs_dir: Path):
    ok(run_seed(*TINY))
    document = json.loads((runs_dir / "credentials.json").read_text())
    users = document["users"]
    assert len(users) == 4
    assert document["password_hasher"] == "argon2"
    assert {u["role"] for u in users} == {"cashier", "owner"}
    tenants = dict(Tenant.objects.values_list("id", "slug"))
    assert all(tenants[u["tenant_id"]] == u["tenant_slug"] for u in users)
    assert len({u["password"] for u in users}) == 4
    assert not list(runs_dir.glob(".credentials-*"))  # no temporary file left


def test_replace_swaps_lab_data_from_other_parameters_in_one_go(
    run_seed: Callable, foreign_shop: Tenant
):
    ok(run_seed(*TINY, "--force"))
    result = ok(run_seed(*TINY, "--items", "400", "--force", "--replace"))
    assert "replacing the lab data (items 300 (asked 400))" in result.stderr
    assert table_count("inventory_item", "WHERE sku LIKE 'REAL-%'") == 1
    assert table_count("inventory_item") == 400 + 1
    assert lab_tenant_count() == 2


def test_replace_without_foreign_data_takes_the_truncate_path(run_seed: Callable):
    ok(run_seed(*TINY))
    result = ok(run_seed(*TINY, "--random-seed", "99", "--replace"))
    assert "truncated" in result.stderr
    assert lab_tenant_count() == 2
    assert table_count("sales_sale") == 250
