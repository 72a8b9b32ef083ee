"""Each report's selector, cache bypassed, for the lab's biggest shop: median of 3, per query.

Run inside the lab's app container, where the data is:
    docker compose -p <project> exec -T app python - < bench/report_timing.py
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta

sys.path.insert(0, "app")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.perf")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from jewelry.core.tenancy import tenant_context  # noqa: E402
from jewelry.reports import selectors  # noqa: E402
from jewelry.reports.params import Period  # noqa: E402

RUNS = 3


def biggest_shop() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tenant_id, count(*) FROM sales_sale GROUP BY 1 ORDER BY 2 DESC")
        return cursor.fetchone()


def main() -> None:
    tenant_id, sales = biggest_shop()
    today = timezone.localdate()
    print(f"tenant {tenant_id}: {sales} sales")
    reports: dict[str, Callable[[], object]] = {
        "daily-sales (one day)": lambda: selectors.daily_sales(day=today - timedelta(days=3)),
        "sales-by-product (all time)": lambda: selectors.sales_by_product(period=Period()),
        "customer-analytics (all time)": lambda: selectors.customer_analytics(period=Period()),
        "financial-summary (30 days)": lambda: selectors.financial_summary(
            period=Period(today - timedelta(days=29), today)
        ),
        "inventory-valuation": selectors.inventory_valuation,
    }
    with tenant_context(tenant_id):
        for name, compute in reports.items():
            seconds = []
            for _ in range(RUNS):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    compute()
                    seconds.append(time.perf_counter() - started)
            slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
            print(
                f"{name}: median {sorted(seconds)[RUNS // 2] * 1000:.0f} ms over {RUNS}, "
                f"{len(queries.captured_queries)} queries, slowest "
                f"{float(slowest['time']) * 1000:.0f} ms: {slowest['sql'][:80]}"
            )


if __name__ == "__main__":
    main()
