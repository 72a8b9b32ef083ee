"""The advanced scenarios of the report the lab grew from (README "Where the requirements come
from"): whole workflows of shop staff.

Each signs in through the HTML form. Each runs its workflow as one task, marked
`@workflow(...)`: one trace from its first step to its last, and one workflow transaction
in `runs/<id>/transactions/` with its end-to-end time and success (`_transactions`), so
"a POS sale takes p95 X s" is a figure of the report.
"""

from __future__ import annotations

import locust  # noqa: F401  - first: gevent monkey-patching before anything else

# isort: split
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from locust import FastHttpUser, HttpUser, between, run_single_user, task

from locustfiles import _plugin  # noqa: F401  - registers the lab's listeners
from locustfiles._shapes import LabShape  # noqa: F401  - the load shape (LAB_PROFILE)
from locustfiles._transactions import fail_workflow, workflow
from locustfiles._users import LabUser, ids_in, select_options

MAX_STOCK_RETRIES = 3


class POSSaleWorkflow(LabUser, HttpUser):
    """Search, select, add to cart, pick a customer, pay, check out, find the sale."""

    weight = 1
    wait_time = between(2, 5)
    preferred_roles = ("cashier",)

    def login(self) -> bool:
        return self.html_login()

    @task
    @workflow("POS sale")
    def sale(self) -> None:
        with self.checked("GET", "/pos/", "/pos/") as response:
            if self.check_page(response) is None:
                return
        candidates = self._search_products()
        if not candidates:
            fail_workflow("NoSale: no item in stock to sell")  # a sale that never happened
            return
        customer_id = self._pick_customer()
        sale_id = self._checkout(candidates, customer_id)
        if sale_id is not None:
            self._find_sale(sale_id)

    def _search_products(self) -> list[dict[str, Any]]:
        for word in (self.search_word(), ""):
            with self.checked("GET", f"/pos/search/?q={word}", "/pos/search/") as response:
                data = self.check_json(response, "results")
            if data is None:
                return []
            in_stock = [row for row in data["results"] if int(row.get("quantity") or 0) > 0]
            if in_stock:
                random.shuffle(in_stock)
                return in_stock
        return []

    def _pick_customer(self) -> int | None:
        if random.random() < 0.3:
            return None  # a walk-in sale
        letter = random.choice("abcdeghlmnrst")
        with self.checked("GET", f"/pos/customers/?q={letter}", "/pos/customers/") as response:
            data = self.check_json(response, "results")
        if not data or not data["results"]:
            return None
        return int(random.choice(data["results"])["id"])

    def _checkout(self, candidates: list[dict[str, Any]], customer_id: int | None) -> int | None:
        """Sell one unit of the first candidate still in stock; the shop tries the next on 409."""
        for item in candidates[:MAX_STOCK_RETRIES]:
            price = Decimal(str(item["price"]))
            body = {
                "customer_id": customer_id,
                "terminal_id": None,
                "items": [{"item_id": item["id"], "quantity": 1}],
                "payments": [
                    {"method": random.choice(("cash", "card", "transfer")), "amount": str(price)}
                ],
            }
            headers = {"X-CSRFToken": self.csrf_cookie(), "Referer": f"{self.host}/pos/"}
            with self.checked(
                "POST", "/pos/checkout/", "/pos/checkout/", json=body, headers=headers
            ) as response:
                if response.status_code == 409:
                    try:
                        sold_out = response.json().get("error") == "out_of_stock"
                    except ValueError:
                        sold_out = False
                    if sold_out:
                        response.success()  # someone bought the last one first: pick another
                        continue
                sale = self.check_json(
                    response,
                    "id",
                    "total",
                    "lines",
                    status=201,
                    validate=lambda data, p=price: (
                        None if Decimal(data["total"]) == p else f"total {data['total']} != {p}"
                    ),
                )
            return int(sale["id"]) if sale else None
        fail_workflow(f"NoSale: the first {MAX_STOCK_RETRIES} items sold out first")
        return None

    def _find_sale(self, sale_id: int) -> None:
        with self.checked("GET", "/sales/", "/sales/") as response:
            self.check_page(response, marker=f'data-sale-id="{sale_id}"')


class InventoryManagementWorkflow(LabUser, FastHttpUser):
    """A stock check, one task: a page, category and karat filters, detail, low stock, valuation.

    One task per workflow (the steps in the source document's order), so its transaction
    times what a person checking stock waits for; each step is a page of its own, so a failed
    step fails the transaction and the check goes on with the next page.
    """

    weight = 1
    wait_time = between(2, 5)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.item_ids: list[int] = []
        self.categories: list[str] = []
        self.karats: list[str] = []

    def login(self) -> bool:
        return self.html_login()

    def _list(self, query: str) -> None:
        with self.checked("GET", f"/inventory/?{query}", "/inventory/") as response:
            if response.status_code == 404 and query != "page=1":  # past a small shop's last page
                response.success()
                return
            html = self.check_page(response)
        if html:
            self.item_ids = ids_in(html, "item-id") or self.item_ids
            self.categories = select_options(html, "category") or self.categories
            self.karats = select_options(html, "karat") or self.karats

    @task
    @workflow("inventory management")
    def stock_check(self) -> None:
        self._list(f"page={random.randint(1, 4)}")
        if self.categories:
            self._list(f"category={random.choice(self.categories)}")
        if self.karats:
            self._list(f"karat={random.choice(self.karats)}")
        if self.item_ids:
            self.item_detail(random.choice(self.item_ids))
        self.low_stock()
        self.valuation_report()

    def item_detail(self, item_id: int) -> None:
        with self.checked("GET", f"/inventory/{item_id}/", "/inventory/[id]") as response:
            self.check_page(response, marker=f'data-item-id="{item_id}"')

    def low_stock(self) -> None:
        with self.checked("GET", "/inventory/low-stock/", "/inventory/low-stock/") as response:
            self.check_page(response)

    def valuation_report(self) -> None:
        with self.checked(
            "GET", "/reports/inventory-valuation/", "/reports/inventory-valuation/"
        ) as response:
            self.check_page(response)


class ReportGenerationWorkflow(LabUser, HttpUser):
    """Daily sales, sales by product, customer analytics, financial summary, PDF export.

    One task is one report run, every step in order, as the person closing the books works:
    its trace holds the whole run, and a short run still exercises every report.
    """

    weight = 1
    wait_time = between(2, 5)
    preferred_roles = ("owner", "manager")

    def login(self) -> bool:
        return self.html_login()

    @task
    @workflow("report generation")
    def report_run(self) -> None:
        self.daily_sales()
        self.sales_by_product()
        self.customer_analytics()
        self.financial_summary()
        self.pdf_export()

    def _day(self) -> str:
        return (date.today() - timedelta(days=random.randint(0, 30))).isoformat()

    def daily_sales(self) -> None:
        path = f"/reports/daily-sales/?date={self._day()}"
        with self.checked("GET", path, "/reports/daily-sales/") as response:
            self.check_page(response, marker='id="sales-count"')

    def sales_by_product(self) -> None:
        with self.checked(
            "GET", "/reports/sales-by-product/", "/reports/sales-by-product/"
        ) as response:
            self.check_page(response)

    def customer_analytics(self) -> None:
        with self.checked(
            "GET", "/reports/customer-analytics/", "/reports/customer-analytics/"
        ) as response:
            self.check_page(response, marker='id="repeat-rate"')

    def financial_summary(self) -> None:
        with self.checked(
            "GET", "/reports/financial-summary/", "/reports/financial-summary/"
        ) as response:
            self.check_page(response, marker='id="gross-margin"')

    def pdf_export(self) -> None:
        path = f"/reports/daily-sales/pdf/?date={self._day()}"
        with self.checked("GET", path, "/reports/daily-sales/pdf/") as response:
            if not self.check_status(response, 200):
                return
            content_type = response.headers.get("Content-Type", "")
            if not content_type.startswith("application/pdf") or not (
                response.content or b""
            ).startswith(b"%PDF-"):
                self.fail(response, ValueError(f"not a PDF ({content_type})"))
                return
            response.success()


class CustomerManagementWorkflow(LabUser, FastHttpUser):
    """A customer looked after, one task: the list, a search, a profile.

    The profile shows loyalty points, the ledger and the purchase history on one page.
    """

    weight = 1
    wait_time = between(2, 5)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.customer_ids: list[int] = []

    def login(self) -> bool:
        return self.html_login()

    def _remember(self, html: str | None) -> None:
        if html:
            self.customer_ids = ids_in(html, "customer-id") or self.customer_ids

    @task
    @workflow("customer management")
    def customer_visit(self) -> None:
        self.customer_list()
        self.customer_search()
        if self.customer_ids:
            self.customer_profile(random.choice(self.customer_ids))
        else:
            fail_workflow("NoCustomer: neither the list nor the search showed a customer")

    def customer_list(self) -> None:
        with self.checked("GET", "/customers/", "/customers/") as response:
            self._remember(self.check_page(response, marker="data-customer-id"))

    def customer_search(self) -> None:
        letter = random.choice("abcdeghlmnrst")
        with self.checked("GET", f"/customers/?q={letter}", "/customers/") as response:
            self._remember(self.check_page(response))

    def customer_profile(self, customer_id: int) -> None:
        with self.checked("GET", f"/customers/{customer_id}/", "/customers/[id]") as response:
            self.check_page(response, marker=f'data-customer-id="{customer_id}"')


if __name__ == "__main__":
    run_single_user(POSSaleWorkflow)
