"""Tenant isolation, enforced in one place.

Every tenant-owned model uses TenantManager as its default manager. Its querysets are filtered
by the tenant active in this context, and it raises TenantNotActive when none is, so a view that
forgets to scope cannot leak another tenant's rows: another tenant's id is simply not found (404).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import models
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from jewelry.tenants.models import Tenant

_active_tenant_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "active_tenant_id", default=None
)


class TenantNotActive(RuntimeError):
    """A tenant-owned model was queried with no tenant active: a missing scope, not a user error."""


def active_tenant_id() -> int:
    tenant_id = _active_tenant_id.get()
    if tenant_id is None:
        raise TenantNotActive(
            "no tenant is active: query through a request, or wrap the code in tenant_context()"
        )
    return tenant_id


def current_tenant_id_or_none() -> int | None:
    return _active_tenant_id.get()


@contextmanager
def tenant_context(tenant: Tenant | int) -> Iterator[None]:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    token = _active_tenant_id.set(tenant_id)
    try:
        yield
    finally:
        _active_tenant_id.reset(token)


def activate_tenant(tenant_id: int | None) -> contextvars.Token[int | None]:
    return _active_tenant_id.set(tenant_id)


def deactivate_tenant(token: contextvars.Token[int | None]) -> None:
    _active_tenant_id.reset(token)


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> TenantQuerySet:
        return super().get_queryset().filter(tenant_id=active_tenant_id())


class TenantOwned(models.Model):
    """Abstract base of every business row: it belongs to exactly one tenant."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()
    unscoped = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        abstract = True
        # Related lookups (item.category, sale.lines) go through the plain manager: the FK
        # already pins them to a row of the same tenant, and scoping them would hide
        # nothing but cost a contextvar lookup in every relation access.
        base_manager_name = "unscoped"
        default_manager_name = "objects"


class TenantMiddleware:
    """Activates the signed-in user's tenant for the request (the API does it in its auth class)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = getattr(request, "user", None)
        tenant_id = getattr(user, "tenant_id", None) if user and user.is_authenticated else None
        token = activate_tenant(tenant_id)
        try:
            return self.get_response(request)
        finally:
            deactivate_tenant(token)
