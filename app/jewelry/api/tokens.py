"""JWT obtain and refresh, with the body the URL map documents: `{"username": <email>, "password"}`.

simplejwt names the login field after `User.USERNAME_FIELD`, which is `email` here, so its stock
serializer would demand an `email` key. The documented key is `username`; Django's ModelBackend
takes `username=` and looks it up by the natural key (the e-mail), so only the field name changes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.serializers import (
    PasswordField,
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from jewelry.api.serializers import ErrorSerializer
from jewelry.tenants import throttle

MAX_CREDENTIAL_LENGTH = 254  # the longest e-mail address; passwords get the same bound


class EmailTokenObtainPairSerializer(TokenObtainPairSerializer):
    username_field = "username"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bounded, so an over-long body is a 400 before Argon2 ever sees it.
        self.fields["username"] = serializers.CharField(
            write_only=True, max_length=MAX_CREDENTIAL_LENGTH
        )
        self.fields["password"] = PasswordField(max_length=MAX_CREDENTIAL_LENGTH)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        data = super().validate(attrs)
        if self.user.tenant_id is None:
            # Staff accounts belong to no shop; the API serves shops only.
            raise AuthenticationFailed("this account belongs to no shop", "no_tenant")
        return data

    @classmethod
    def get_token(cls, user: Any) -> RefreshToken:
        token = super().get_token(user)
        # Informational for clients; authorisation always uses the user row's tenant.
        token["tenant_id"] = user.tenant_id
        return token


class SafeTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt raises DoesNotExist (a 500) when the token's user was deleted; make it a 401."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise AuthenticationFailed(
                "the token's user no longer exists", "user_not_found"
            ) from None


class TokenPairRequestSerializer(serializers.Serializer):
    username = serializers.EmailField(help_text="the user's e-mail address")
    password = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TokenRefreshRequestSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class AccessTokenSerializer(serializers.Serializer):
    access = serializers.CharField()


@extend_schema(
    request=TokenPairRequestSerializer,
    responses={
        200: TokenPairSerializer,
        400: ErrorSerializer,
        401: OpenApiResponse(ErrorSerializer, description="wrong e-mail or password"),
        429: OpenApiResponse(
            ErrorSerializer,
            description="too many failed sign-ins for this account or address (Retry-After)",
        ),
    },
)
class EmailTokenObtainPairView(TokenObtainPairView):
    """Token sign-in, throttled per account and per client IP exactly as the HTML login.

    The counters are the HTML login's own (`jewelry.tenants.throttle`), so splitting guesses
    between the form and the API buys no extra attempts. A refused attempt is answered before
    the password is checked: it costs one Redis round trip, not an Argon2 hash.
    """

    serializer_class = EmailTokenObtainPairSerializer
    parser_classes = [JSONParser]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data
        username = str(data.get("username", "")) if isinstance(data, dict) else ""
        ip = throttle.client_ip(request)
        block = throttle.blocked(username=username, ip=ip)
        if block is not None:
            response = Response({"error": block.message}, status=429)
            response["Retry-After"] = str(block.retry_after_seconds)
            return response
        try:
            response = super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            throttle.record_failure(username=username, ip=ip)
            raise
        throttle.clear_account(username=username)
        return response


@extend_schema(
    request=TokenRefreshRequestSerializer,
    responses={200: AccessTokenSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
)
class SafeTokenRefreshView(TokenRefreshView):
    serializer_class = SafeTokenRefreshSerializer
    parser_classes = [JSONParser]
