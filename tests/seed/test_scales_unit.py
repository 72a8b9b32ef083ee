"""Pure parts of the seed: scales, splitting, pricing, tiers, the clock (no database)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from seed.catalog import TIERS, metal_value_cents, points_for, tier_for
from seed.clock import DAY, Clock
from seed.generate import Pools, plan_tenants
from seed.scales import SCALES, ScaleError, resolve, split


def test_large_scale_is_a_busy_saas():
    large = SCALES["large"]
    assert (large.tenants, large.items, large.customers, large.sales) == (
        20, 1_000_000, 200_000, 1_000_000,
    )  # fmt: skip


@pytest.mark.parametrize("name", list(SCALES))
def test_tenant_plans_add_up_to_the_scale(name: str):
    scale = SCALES[name]
    clock = Clock(date(2026, 11, 1))
    plans = plan_tenants(1, scale, Pools.build(1), clock)
    assert len(plans) == scale.tenants
    assert sum(p.items for p in plans) == scale.items
    assert sum(p.customers for p in plans) == scale.customers
    assert sum(p.sales for p in plans) == scale.sales
    assert all(p.items >= 1 for p in plans)
    assert len({p.slug for p in plans}) == scale.tenants
    assert all(p.slug.startswith("lab-") and len(p.slug) <= 60 for p in plans)
    assert all(0 <= p.created_at <= clock.sales_start - 30 * DAY for p in plans)


def test_split_is_exact():
    assert split(10, [1.0, 1.0, 1.0]) == [4, 3, 3]
    assert sum(split(1_000_003, [random.random() + 0.1 for _ in range(17)])) == 1_000_003


def test_overrides_and_refusals():
    assert resolve("doc", {"items": 7, "sales": None}).items == 7
    with pytest.raises(ScaleError, match="unknown scale"):
        resolve("medium", {})
    with pytest.raises(ScaleError, match="--customers must be >= 0"):
        resolve("doc", {"customers": -1})


def test_metal_value_follows_spot_purity_and_weight():
    assert metal_value_cents("gold", 24, 10_000) > metal_value_cents("gold", 14, 10_000)
    assert metal_value_cents("gold", 18, 20_000) == 2 * metal_value_cents("gold", 18, 10_000)
    assert metal_value_cents("platinum", None, 10_000) > metal_value_cents("silver", None, 10_000)


def test_tiers_and_points():
    assert [tier_for(p) for p in (0, 499, 500, 1999, 2000, 4999, 5000, 10**6)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert [name for name, _points, _discount in TIERS] == ["Bronze", "Silver", "Gold", "Platinum"]
    assert points_for(12_345) == 12  # 123.45 -> 12 points, floored like the app
    assert points_for(999) == 0


def test_sale_times_are_sorted_inside_the_last_year_and_opening_hours():
    clock = Clock(date(2026, 11, 1))
    times = clock.sale_times(random.Random(3), 2_000)
    assert times == sorted(times)
    assert clock.sales_start <= times[0]
    assert times[-1] < clock.end
    assert all(10 * 3600 <= t % DAY < 20 * 3600 for t in times)
    assert clock.format(clock.end) == "2026-11-01 00:00:00+00"
