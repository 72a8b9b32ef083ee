"""LAB_FAULTS switches: unknown names refused, tenant_leak really leaks (and only when on)."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from jewelry.core import faults
from tests.app.api.conftest import bearer_client
from tests.app.factories import Shop

pytestmark = pytest.mark.django_db


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault 'tenant_leek'"):
        faults.enabled("tenant_leek")


def tenants_listed(api: APIClient) -> set[int]:
    body = api.get("/api/inventory/", {"page_size": 100}).json()
    return {row["tenant_id"] for row in body["results"]}


def test_tenant_leak_fault_lists_every_shops_items(shop: Shop, other_shop: Shop) -> None:
    api = bearer_client(shop.user)
    assert tenants_listed(api) == {shop.tenant.pk}
    with override_settings(LAB_FAULTS=frozenset({"tenant_leak"})):
        assert tenants_listed(api) == {shop.tenant.pk, other_shop.tenant.pk}
