"""Every report's numbers equal the same figures computed independently from the history."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jewelry.customers.models import Customer
from jewelry.inventory.models import Item
from jewelry.tenants.models import User
from tests.app.factories import Shop
from tests.app.reports import expected
from tests.app.reports.conftest import DAY, History, PlannedSale, at, record

REPORT_URLS = [
    "/reports/",
    f"/reports/daily-sales/?date={DAY}",
    f"/reports/daily-sales/pdf/?date={DAY}",
    "/reports/sales-by-product/",
    "/reports/customer-analytics/",
    "/reports/financial-summary/?start=2024-03-01&end=2024-03-31",
    "/reports/inventory-valuation/",
]


def report_of(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.context["report"]


def day_range(first: date, last: date) -> tuple[Any, Any]:
    return at(first, 0), at(last + timedelta(days=1), 0)


def test_index_links_every_report(shop_client: Client, shop: Shop) -> None:
    page = shop_client.get("/reports/").content.decode()
    for url in REPORT_URLS[1:]:
        assert url.split("?")[0] in page


@pytest.mark.parametrize("url", REPORT_URLS)
def test_reports_require_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_daily_sales(shop_client: Client, history: History) -> None:
    sales = expected.within(history.sales, *day_range(DAY, DAY))
    assert len(sales) == 4  # 23:59:59 of the day before and midnight after are excluded

    response = shop_client.get(f"/reports/daily-sales/?date={DAY}")
    report = response.context["report"]

    assert report["tenant_id"] == history.shop.tenant.pk
    assert report["sales_count"] == len(sales)
    assert report["revenue"] == expected.revenue(sales) == Decimal("5190.50")
    average = (expected.revenue(sales) / len(sales)).quantize(Decimal("0.01"))
    assert report["average_sale"] == average
    assert report["units_sold"] == expected.units(sales)
    assert report["customers"] == len({s.customer.pk for s in sales if s.customer})
    assert report["loyalty_points"] == sum(expected.points(s) for s in sales)
    assert report["payments"] == expected.payments(sales)
    hours: dict[int, list[PlannedSale]] = defaultdict(list)
    for sale in sales:
        hours[sale.at.hour].append(sale)
    assert [(h["hour"], h["count"], h["revenue"]) for h in report["by_hour"]] == [
        (hour, len(group), expected.revenue(group)) for hour, group in sorted(hours.items())
    ]
    assert [(i["item_id"], i["units"], i["revenue"]) for i in report["top_items"]] == (
        expected.item_revenue(sales)
    )
    page = response.content.decode()
    assert '<td class="num" id="revenue">5190.50</td>' in page
    assert "77777" not in page  # the other shop's sale that day


def test_daily_sales_defaults_to_today(shop_client: Client, shop: Shop) -> None:
    item = shop.items[0]
    record(shop, PlannedSale(timezone.now(), [(item, 1)]))
    report = report_of(shop_client, "/reports/daily-sales/")
    assert report["date"] == timezone.localdate()
    assert (report["sales_count"], report["revenue"]) == (1, item.price)


BAD_DATES = [
    "date=2024-13-01",
    "date=2024-02-30",
    "date=yesterday",
    "date=9999-12-31",
    "date=0001-01-01",
    "date=%27%3B%20DROP%20TABLE%20sales_sale%3B--",
    "date=" + "9" * 5000,
]
BAD_PERIODS = [
    "start=2024-03-10&end=2024-03-01",
    "start=soon",
    "end=2024-00-01",
    "start=1900-01-01",
]
PERIOD_REPORTS = [
    "/reports/sales-by-product/",
    "/reports/customer-analytics/",
    "/reports/financial-summary/",
]


def test_bad_dates_and_periods_are_400_with_a_reason(shop_client: Client, shop: Shop) -> None:
    # One signed-in shop for all cases: a user per case (Argon2) would dominate the run time.
    cases = [
        (path, q)
        for path in ("/reports/daily-sales/", "/reports/daily-sales/pdf/")
        for q in BAD_DATES
    ]
    cases += [(path, q) for path in PERIOD_REPORTS for q in BAD_PERIODS]
    for path, query in cases:
        response = shop_client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query[:40])
        assert b"must" in response.content, (path, query[:40])


@pytest.mark.parametrize(
    ("query", "first", "last"),
    [("", None, None), ("?start=2024-03-10&end=2024-03-10", DAY, DAY)],
)
def test_sales_by_product(
    shop_client: Client, history: History, query: str, first: date | None, last: date | None
) -> None:
    sales = expected.within(history.sales, *day_range(first, last)) if first else history.sales
    report = report_of(shop_client, f"/reports/sales-by-product/{query}")
    ranked = expected.item_revenue(sales)
    assert [(r["item_id"], r["units"], r["revenue"]) for r in report["rows"]] == ranked
    assert report["revenue"] == expected.revenue(sales)
    assert report["units"] == expected.units(sales)
    top_share = (ranked[0][2] * 100 / expected.revenue(sales)).quantize(Decimal("0.1"))
    assert report["rows"][0]["share"] == top_share
    assert {r["sku"] for r in report["rows"]} <= {i.sku for i in history.items}


def test_customer_analytics(shop_client: Client, history: History) -> None:
    shop = history.shop
    Customer.unscoped.filter(pk=shop.customers[2].pk).update(tier=shop.tiers["Gold"])

    report = report_of(shop_client, "/reports/customer-analytics/")

    tiers = {t["name"]: (t["customers"], t["points"]) for t in report["tiers"]}
    customers = list(Customer.unscoped.filter(tenant=shop.tenant))
    for name, tier in shop.tiers.items():
        members = [c for c in customers if c.tier_id == tier.pk]
        assert tiers[name] == (len(members), sum(c.loyalty_points for c in members)), name
    assert [t["name"] for t in report["tiers"]] == ["Bronze", "Silver", "Gold", "Platinum"]
    assert report["customers"] == len(customers)

    spend = expected.spend_by_customer(history.sales)
    ranked = sorted(spend.items(), key=lambda kv: (-kv[1][1], kv[0]))
    assert [(c["id"], c["purchases"], c["spent"]) for c in report["top_customers"]] == [
        (pk, count, total) for pk, (count, total) in ranked
    ]
    repeat = sum(1 for count, _ in spend.values() if count >= 2)
    assert (report["buyers"], report["repeat_buyers"]) == (len(spend), repeat) == (3, 2)
    assert report["repeat_rate"] == Decimal("66.7")
    assert report["sales"] == len(history.sales)
    assert report["walk_in_sales"] == sum(1 for s in history.sales if s.customer is None)

    one_day = report_of(shop_client, f"/reports/customer-analytics/?start={DAY}&end={DAY}")
    in_day = expected.spend_by_customer(expected.within(history.sales, *day_range(DAY, DAY)))
    assert (one_day["buyers"], one_day["repeat_buyers"]) == (len(in_day), 1)
    assert one_day["repeat_rate"] == Decimal("50.0")


def test_financial_summary(shop_client: Client, history: History) -> None:
    first, last = date(2024, 3, 9), DAY
    sales = expected.within(history.sales, *day_range(first, last))
    assert len(sales) == 5

    report = report_of(shop_client, f"/reports/financial-summary/?start={first}&end={last}")

    revenue, cost = expected.revenue(sales), expected.cost_of_goods(sales)
    assert report["sales_count"] == len(sales)
    assert report["units_sold"] == expected.units(sales)
    assert report["revenue"] == revenue
    assert report["cost_of_goods"] == cost
    assert report["gross_margin"] == revenue - cost
    assert report["gross_margin_percent"] == ((revenue - cost) * 100 / revenue).quantize(
        Decimal("0.1")
    )
    assert report["payments"] == expected.payments(sales)
    assert [(d["day"], d["count"]) for d in report["by_day"]] == [(first, 1), (last, 4)]


def test_financial_summary_defaults_to_the_last_30_days(
    shop_client: Client, history: History
) -> None:
    report = report_of(shop_client, "/reports/financial-summary/")
    today = timezone.localdate()
    assert (report["period"].start, report["period"].end) == (today - timedelta(days=29), today)
    assert (report["sales_count"], report["revenue"], report["gross_margin_percent"]) == (
        0,
        Decimal("0.00"),
        None,
    )


def test_inventory_valuation(shop_client: Client, history: History) -> None:
    report = report_of(shop_client, "/reports/inventory-valuation/")

    groups: dict[tuple[str, str], list[Item]] = defaultdict(list)
    items = list(Item.unscoped.filter(tenant=history.shop.tenant).select_related("category"))
    for item in items:
        groups[(item.category.name, item.metal)].append(item)
    assert [
        (g["category"], g["metal"], g["items"], g["units"], g["cost_value"], g["retail_value"])
        for g in report["groups"]
    ] == [
        (
            category,
            metal,
            len(members),
            sum(i.quantity for i in members),
            sum((i.cost * i.quantity for i in members), Decimal(0)),
            sum((i.price * i.quantity for i in members), Decimal(0)),
        )
        for (category, metal), members in sorted(groups.items())
    ]
    assert report["units"] == sum(i.quantity for i in items)
    assert report["retail_value"] == sum((i.price * i.quantity for i in items), Decimal(0))
    assert report["cost_value"] == sum((i.cost * i.quantity for i in items), Decimal(0))


def test_each_shop_sees_only_its_own_figures_even_when_cached(
    shop_client: Client, history: History, other_shop: Shop
) -> None:
    assert report_of(shop_client, f"/reports/daily-sales/?date={DAY}")["revenue"] == Decimal(
        "5190.50"
    )
    other = Client()
    other.force_login(other_shop.user)
    theirs = report_of(other, f"/reports/daily-sales/?date={DAY}")
    assert (theirs["tenant_id"], theirs["revenue"]) == (other_shop.tenant.pk, Decimal("77777.00"))
    valuation = report_of(other, "/reports/inventory-valuation/")
    assert valuation["items"] == Item.unscoped.filter(tenant=other_shop.tenant).count()


def test_reports_are_cached_in_redis(shop_client: Client, history: History) -> None:
    url = f"/reports/daily-sales/?date={DAY}"
    first = report_of(shop_client, url)
    record(history.shop, PlannedSale(at(DAY, 16), [(history.items[0], 1)]))
    with CaptureQueriesContext(connection) as cached_queries:
        again = report_of(shop_client, url)
    assert again["revenue"] == first["revenue"]  # served from the cache
    assert not any("sales_sale" in q["sql"] for q in cached_queries.captured_queries)
    key = f"tenant:{history.shop.tenant.pk}:report:daily-sales:{DAY}"
    assert cache.get(key) is not None
    cache.delete(key)
    assert report_of(shop_client, url)["revenue"] == first["revenue"] + history.items[0].price


@pytest.mark.parametrize("url", REPORT_URLS[1:])
def test_report_query_count_does_not_grow_with_data(
    shop_client: Client, history: History, url: str
) -> None:
    def count() -> int:
        cache.clear()
        shop_client.force_login(history.shop.user)
        with CaptureQueriesContext(connection) as queries:
            assert shop_client.get(url).status_code == 200
        return len(queries)

    before = count()
    for hour in range(1, 9):  # eight more sales of different items and customers on DAY
        item = history.items[(hour % 2) * 2]  # items 0 and 2 have stock to spare
        customer = history.shop.customers[hour % 3]
        record(history.shop, PlannedSale(at(DAY, hour), [(item, 1)], customer))
    assert count() == before


def test_an_account_without_a_shop_is_refused_not_crashed(client: Client, db: None) -> None:
    admin = User.objects.create_user(email="nobody@lab.test", password="x" * 12, tenant=None)
    client.force_login(admin)
    for url in REPORT_URLS:
        assert client.get(url).status_code == 403, url
