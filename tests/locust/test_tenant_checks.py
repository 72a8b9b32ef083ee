"""The load tests' tenant checks, unit by unit: a foreign tenant anywhere in a JSON body, and a
page rendered for another tenant, are a TenantLeak; the user's own data is not."""

from __future__ import annotations

import pytest

from locustfiles._tenant_checks import (
    ContentError,
    TenantLeak,
    foreign_tenants,
    json_problem,
    page_problem,
)

OWN = 7


def page(tenant: str, body: str = "<p>ok</p>") -> str:
    return f'<html><head></head><body class="x" data-tenant-id="{tenant}">{body}</body></html>'


@pytest.mark.parametrize(
    "payload",
    [
        {"tenant_id": OWN, "count": 2, "results": [{"id": 1, "tenant_id": OWN}]},
        {"results": [{"id": 1, "tenant_id": OWN, "lines": [{"tenant_id": OWN}]}]},
        [{"tenant_id": OWN}, {"name": "no tenant here"}],
        {"count": 0, "results": []},
        {"tenant": 8, "owner_tenant_id": 8},  # only the key `tenant_id` is a tenant
    ],
)
def test_own_tenant_json_is_clean(payload: object) -> None:
    assert list(foreign_tenants(payload, OWN)) == []
    assert json_problem(payload, OWN) is None


@pytest.mark.parametrize(
    ("payload", "foreign"),
    [
        ({"tenant_id": 8}, [8]),
        (
            {"tenant_id": OWN, "results": [{"id": 1, "tenant_id": OWN}, {"id": 2, "tenant_id": 9}]},
            [9],
        ),
        ({"results": [{"id": 1, "tenant_id": OWN, "lines": [{"item": {"tenant_id": 3}}]}]}, [3]),
        ([[{"tenant_id": "7"}]], ["7"]),  # a string id is not the user's integer id
        ({"tenant_id": None}, [None]),
    ],
)
def test_foreign_tenant_at_any_depth_is_a_leak(payload: object, foreign: list) -> None:
    assert list(foreign_tenants(payload, OWN)) == foreign
    problem = json_problem(payload, OWN)
    assert isinstance(problem, TenantLeak)
    assert str(problem) == f"tenant {foreign[0]} data shown to tenant {OWN}"


def test_every_foreign_tenant_is_found() -> None:
    payload = {"a": [{"tenant_id": 1}, {"b": {"tenant_id": 2}}], "tenant_id": 3}
    assert sorted(foreign_tenants(payload, OWN)) == [1, 2, 3]


def test_missing_keys_are_a_content_error_before_any_leak() -> None:
    problem = json_problem({"tenant_id": 8}, OWN, ("count", "results"))
    assert isinstance(problem, ContentError)
    assert str(problem) == "JSON lacks ['count', 'results']"
    assert json_problem({"count": 1, "results": []}, OWN, ("count", "results")) is None
    assert isinstance(json_problem([1, 2], OWN, ("count",)), ContentError)


def test_own_page_is_clean() -> None:
    assert page_problem(page(str(OWN)), OWN) is None
    assert page_problem(page(str(OWN), '<div data-item-id="3"></div>'), OWN, "data-item-id") is None


@pytest.mark.parametrize("tenant", ["8", "70", "17", "0"])
def test_page_of_another_tenant_is_a_leak(tenant: str) -> None:
    problem = page_problem(page(tenant), OWN)
    assert isinstance(problem, TenantLeak)
    assert str(problem) == f"page of tenant {tenant!r} shown to tenant {OWN}"


def test_leak_wins_over_a_missing_marker() -> None:
    assert isinstance(page_problem(page("8"), OWN, "data-item-id"), TenantLeak)


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("<html><body><p>hi</p></body></html>", "page has no <body data-tenant-id>"),
        ('<div data-tenant-id="7"></div><body>', "page has no <body data-tenant-id>"),
        (page(""), "page rendered for nobody signed in"),
        (page(str(OWN)), "page lacks 'data-item-id'"),
    ],
)
def test_pages_that_prove_nothing_are_content_errors(html: str, message: str) -> None:
    problem = page_problem(html, OWN, "data-item-id")
    assert type(problem) is ContentError
    assert str(problem) == message
