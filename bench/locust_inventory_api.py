"""One endpoint for comparisons with other generators: `GET /api/inventory/` with a JWT.

The lab's plugin and shape as every locustfile has them (record, arrival schedule), and one
user class, so Locust's load is exactly the request wrk sends (bench/stall_proof.py).
"""

from __future__ import annotations

import locust  # noqa: F401  - first: gevent monkey-patching before anything else

# isort: split
from locust import task

import locustfiles.shop_users as shop_users
from locustfiles import _plugin  # noqa: F401  - registers the lab's listeners
from locustfiles._shapes import LabShape  # noqa: F401  - the load shape (LAB_PROFILE)


class InventoryAPIUser(shop_users.APIUser):
    @task
    def inventory_page_one(self) -> None:
        self.api_get("/api/inventory/?page=1", "/api/inventory/", "count", "results")


# Locust adds the base class's tasks to a subclass's: keep this one only (traced as wrapped).
InventoryAPIUser.tasks = [
    t for t in InventoryAPIUser.tasks if getattr(t, "__name__", "") == "inventory_page_one"
]
