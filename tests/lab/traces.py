"""Synthetic traces shaped like the lab's: a Locust task around client -> server -> db spans."""

from __future__ import annotations

import json
from typing import Any

from tests.synthetic import DbCall, trace_spans

START_NS = 1_767_225_600_000_000_000
CATEGORY = 'SELECT "c"."name" FROM "inventory_category" "c" WHERE "c"."id" = {}'


def task_trace(
    key: str,
    *,
    route: str,
    start_ns: int,
    calls: list[DbCall],
    app_ms: float = 6.0,
    run_id: str = "synthetic",
) -> list[dict[str, Any]]:
    """A Locust task span (INTERNAL root) around trace_spans' client -> server -> db spans."""
    spans = trace_spans(
        key,
        route=route,
        start_ns=start_ns + 1_000_000,
        network_ms=2.0,
        app_ms=app_ms,
        calls=calls,
        run_id=run_id,
    )
    server = spans[1]
    server["attributes"] = json.dumps(
        {"lab.run_id": run_id, "http.route": route.lstrip("/"), "http.response.status_code": 200}
    )
    client = spans[0]
    task = {
        **client,
        "span_id": client["parent_span_id"],
        "parent_span_id": None,
        "name": "TenantUser.browse_inventory",
        "kind": "INTERNAL",
        "start_unix_ns": start_ns,
        "end_unix_ns": client["end_unix_ns"] + 500_000,
        "http_status": None,
    }
    return [task, *spans]


def n_plus_one_trace(
    key: str, start_ns: int = START_NS, repeats: int = 12, run_id: str = "synthetic"
) -> list[dict[str, Any]]:
    calls = [DbCall("SELECT * FROM inventory_item WHERE tenant_id = 1", 3.0)]
    calls += [DbCall(CATEGORY.format(i), 2.0) for i in range(repeats)]
    calls.append(DbCall("GET :1:session:abc", 0.5, system="redis"))
    return task_trace(
        key, route="/inventory/", start_ns=start_ns, calls=calls, app_ms=20.0, run_id=run_id
    )
