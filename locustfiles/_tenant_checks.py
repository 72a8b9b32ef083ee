"""Is a response the signed-in user's own tenant's? The checks every scenario relies on.

Pure functions with no Locust import, so tests (and `make mutation`) run them in-process:
`LabUser.check_page` and `LabUser.check_json` turn a complaint returned here into a failed
request. A `TenantLeak` is the worst finding a load test can make: another shop's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

BODY_TENANT = re.compile(r"<body[^>]*\bdata-tenant-id=\"(\d*)\"")


class TenantLeak(Exception):
    """A response carried another tenant's data."""


class ContentError(Exception):
    """A response had the right status but not the right content."""


def foreign_tenants(payload: Any, own: int) -> Iterator[Any]:
    """Every `tenant_id` in `payload` (any depth) that is not `own`."""
    stack = [payload]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "tenant_id" in node and node["tenant_id"] != own:
                yield node["tenant_id"]
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))


def page_problem(html: str, own: int, marker: str | None = None) -> Exception | None:
    """Why an HTML page is not the user's own tenant's (containing `marker`), or None."""
    match = BODY_TENANT.search(html)
    if match is None:
        return ContentError("page has no <body data-tenant-id>")
    if match.group(1) == "":
        return ContentError("page rendered for nobody signed in")
    if match.group(1) != str(own):
        return TenantLeak(f"page of tenant {match.group(1)!r} shown to tenant {own}")
    if marker is not None and marker not in html:
        return ContentError(f"page lacks {marker!r}")
    return None


def json_problem(data: Any, own: int, keys: tuple[str, ...] = ()) -> Exception | None:
    """Why a JSON body lacks `keys` or shows another tenant's data, or None."""
    missing = [key for key in keys if not isinstance(data, dict) or key not in data]
    if missing:
        return ContentError(f"JSON lacks {missing}")
    for leaked in foreign_tenants(data, own):  # even `"tenant_id": null` is not the user's
        return TenantLeak(f"tenant {leaked} data shown to tenant {own}")
    return None
