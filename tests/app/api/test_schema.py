"""The OpenAPI 3 schema: generated without warnings, served at /api/schema/, complete."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

DOCUMENTED_OPERATIONS = {
    ("/api/auth/token/", "post"),
    ("/api/auth/token/refresh/", "post"),
    ("/api/inventory/", "get"),
    ("/api/inventory/{id}/", "get"),
    ("/api/sales/", "get"),
    ("/api/sales/", "post"),
    ("/api/customers/", "get"),
    ("/api/customers/{id}/", "get"),
    ("/api/dashboard/stats/", "get"),
}


def test_schema_generates_and_validates_without_warnings() -> None:
    out = io.StringIO()

    # --fail-on-warn turns any drf-spectacular warning (an undocumented view, a guessed type)
    # into a non-zero exit, which call_command raises as SystemExit.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    schema = json.loads(out.getvalue())
    assert schema["openapi"].startswith("3.")


def test_schema_is_served_publicly_as_json(anonymous: APIClient) -> None:
    response = anonymous.get("/api/schema/")

    assert response.status_code == 200
    schema = json.loads(response.content)
    operations = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert operations == DOCUMENTED_OPERATIONS
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
    sale_create = schema["paths"]["/api/sales/"]["post"]
    assert {"201", "400", "409"} <= set(sale_create["responses"])
    token_body = schema["components"]["schemas"]["TokenPairRequest"]
    assert set(token_body["properties"]) == {"username", "password"}


def test_schema_is_also_served_as_yaml(anonymous: APIClient) -> None:
    response = anonymous.get("/api/schema/", {"format": "yaml"})

    assert response.status_code == 200
    assert yaml.safe_load(response.content)["info"]["title"] == "Jewelry shop API"


@pytest.mark.django_db
def test_item_schema_lists_tenant_id(anonymous: APIClient) -> None:
    schema = json.loads(anonymous.get("/api/schema/").content)

    for name in ("Item", "Sale", "SaleDetail", "SaleLine", "Payment", "Customer", "DashboardStats"):
        assert "tenant_id" in schema["components"]["schemas"][name]["properties"], name
