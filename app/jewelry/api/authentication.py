"""JWT authentication that activates the user's tenant, as TenantMiddleware does for sessions.

Cost per request: the token is checked by signature and expiry alone (no DB), then simplejwt
loads the user row: one query, which also yields the tenant id, so nothing else is read.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from jewelry.core.tenancy import activate_tenant


class TenantJWTAuthentication(JWTAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            user, _token = result
            if user.tenant_id is None:
                # A staff account: with no tenant every scoped query would raise TenantNotActive.
                raise AuthenticationFailed("this account belongs to no shop", "no_tenant")
            # Reset by TenantMiddleware when the request ends (ContextVar token semantics).
            activate_tenant(user.tenant_id)
        return result


class TenantJWTScheme(SimpleJWTScheme):
    """drf-spectacular documents simplejwt's class only, not subclasses: name ours too."""

    target_class = "jewelry.api.authentication.TenantJWTAuthentication"
