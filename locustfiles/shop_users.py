"""The basic users of the report the lab grew from (README "Where the requirements come from"):
shop staff in the browser, and API clients.

`TenantUser` (weight 3, HttpUser): HTML sign-in with CSRF, then dashboard,
inventory list, detail and search, sales, customers and the POS page.
`APIUser` (weight 1, FastHttpUser): JWT obtain and refresh (refreshed before
expiry, re-login on 401), then the API's inventory, sales, customers and
dashboard statistics.
"""

from __future__ import annotations

import locust  # noqa: F401  - first: gevent monkey-patching before anything else

# isort: split
import random
import time
from collections.abc import Callable
from typing import Any

from locust import FastHttpUser, HttpUser, between, run_single_user, task

from locustfiles import _plugin  # noqa: F401  - registers the lab's listeners
from locustfiles._shapes import LabShape  # noqa: F401  - the load shape (LAB_PROFILE)
from locustfiles._users import LabUser, decode_jwt_expiry, ids_in

REFRESH_MARGIN_S = 30.0


class TenantUser(LabUser, HttpUser):
    weight = 3
    wait_time = between(1, 3)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.item_ids: list[int] = []

    def login(self) -> bool:
        return self.html_login()

    @task(3)
    def dashboard(self) -> None:
        with self.checked("GET", "/dashboard/", "/dashboard/") as response:
            self.check_page(response, marker='id="low-stock-items"')

    @task(3)
    def inventory_list(self) -> None:
        page = random.randint(1, 3)
        with self.checked("GET", f"/inventory/?page={page}", "/inventory/") as response:
            if response.status_code == 404 and page > 1:  # a small shop has fewer pages
                response.success()
                return
            html = self.check_page(response, marker="data-item-id")
            if html:
                self.item_ids = ids_in(html, "item-id") or self.item_ids

    @task(2)
    def inventory_detail(self) -> None:
        if not self.item_ids:
            self.inventory_list()
            return
        item_id = random.choice(self.item_ids)
        with self.checked("GET", f"/inventory/{item_id}/", "/inventory/[id]") as response:
            self.check_page(response, marker=f'data-item-id="{item_id}"')

    @task(1)
    def inventory_search(self) -> None:
        # Its own name, as in the source report ("Inventory Search"): a search is not a browse.
        word = self.search_word()
        with self.checked("GET", f"/inventory/?q={word}", "/inventory/?q=[search]") as response:
            self.check_page(response)

    @task(1)
    def sales_list(self) -> None:
        with self.checked("GET", "/sales/", "/sales/") as response:
            self.check_page(response)

    @task(1)
    def customers_list(self) -> None:
        with self.checked("GET", "/customers/", "/customers/") as response:
            self.check_page(response, marker="data-customer-id")

    @task(1)
    def pos_page(self) -> None:
        with self.checked("GET", "/pos/", "/pos/") as response:
            self.check_page(response)


class APIUser(LabUser, FastHttpUser):
    weight = 1
    wait_time = between(1, 3)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.access = ""
        self.refresh = ""
        self.refresh_at = 0.0
        self.item_ids: list[int] = []
        self.inventory_pages = 1

    # --- tokens -----------------------------------------------------------------------------
    def login(self) -> bool:
        body = {"username": self.credential.email, "password": self.credential.password}
        with self.checked("POST", "/api/auth/token/", "/api/auth/token/", json=body) as response:
            data = self.check_json(response, "access", "refresh")
        if data is None:
            return False
        self._take_tokens(data["access"], data["refresh"])
        return True

    def _take_tokens(self, access: str, refresh: str | None) -> None:
        self.access = access
        self.refresh = refresh or self.refresh
        expiry = decode_jwt_expiry(access)
        self.refresh_at = (expiry - REFRESH_MARGIN_S) if expiry else time.time() + 60

    def _refresh_if_due(self) -> None:
        if time.time() < self.refresh_at:
            return
        body = {"refresh": self.refresh}
        with self.checked(
            "POST", "/api/auth/token/refresh/", "/api/auth/token/refresh/", json=body
        ) as response:
            if response.status_code == 401:  # refresh token expired too: sign in again
                response.success()
                self.login()
                return
            data = self.check_json(response, "access")
        if data is not None:
            self._take_tokens(data["access"], data.get("refresh"))

    def api_get(
        self,
        path: str,
        name: str,
        *keys: str,
        validate: Callable[[Any], str | None] | None = None,
    ) -> Any:
        """GET with the bearer token; on 401 sign in again and retry once."""
        self._refresh_if_due()
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.access}"}
            with self.checked("GET", path, name, headers=headers) as response:
                if response.status_code == 401 and attempt == 0:
                    response.success()  # an expired token is the client's business, not a failure
                    self.login()
                    continue
                return self.check_json(response, *keys, validate=validate)
        return None

    # --- tasks ------------------------------------------------------------------------------
    @task(3)
    def inventory_list(self) -> None:
        page = random.randint(1, self.inventory_pages)  # only pages that exist
        data = self.api_get(f"/api/inventory/?page={page}", "/api/inventory/", "count", "results")
        if data and data["results"]:
            self.item_ids = [row["id"] for row in data["results"]]
            if page == 1:
                per_page = len(data["results"])
                self.inventory_pages = max(1, min(5, -(-int(data["count"]) // per_page)))

    @task(2)
    def inventory_detail(self) -> None:
        if not self.item_ids:
            self.inventory_list()
            return
        item_id = random.choice(self.item_ids)
        self.api_get(
            f"/api/inventory/{item_id}/",
            "/api/inventory/[id]",
            "id",
            "sku",
            "tenant_id",
            validate=lambda data: None if data["id"] == item_id else f"got item {data['id']}",
        )

    @task(1)
    def sales_list(self) -> None:
        self.api_get("/api/sales/", "/api/sales/", "count", "results")

    @task(1)
    def customers_list(self) -> None:
        self.api_get("/api/customers/", "/api/customers/", "count", "results")

    @task(1)
    def dashboard_stats(self) -> None:
        self.api_get(
            "/api/dashboard/stats/", "/api/dashboard/stats/", "tenant_id", "inventory_items"
        )


if __name__ == "__main__":
    run_single_user(TenantUser)
