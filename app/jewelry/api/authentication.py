"""JWT authentication that activates the user's tenant, as TenantMiddleware does for sessions."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from jewelry.core.tenancy import activate_tenant


class TenantJWTAuthentication(JWTAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            user, _token = result
            # Reset by TenantMiddleware when the request ends (ContextVar token semantics).
            activate_tenant(user.tenant_id)
        return result
