"""API errors are always JSON with one clear `error` message, never an HTML 500 page.

Shapes: `{"error": "<message>", "detail": …}` for DRF's own errors (401, 404, 405, parse errors),
`{"error": "<field>: <message>; …", "fields": {…}}` for validation errors, and domain errors
(`CheckoutError.as_dict()`) pass through untouched from the views.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DataError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


class InvalidParameter(APIException):
    """A query parameter the API cannot use (wrong type, out of range, too long)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "invalid query parameter"
    default_code = "invalid_parameter"


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    """`{"items": [{"quantity": ["too big"]}]}` -> `["items.0.quantity: too big"]`."""
    if isinstance(detail, dict):
        return [
            line
            for key, value in detail.items()
            for line in _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(detail, list):
        if all(not isinstance(entry, dict | list) for entry in detail):
            text = "; ".join(str(entry) for entry in detail)
            return [f"{prefix}: {text}" if prefix else text]
        return [
            line
            for index, entry in enumerate(detail)
            for line in _flatten(entry, f"{prefix}.{index}" if prefix else str(index))
        ]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DataError):
        # A value PostgreSQL refuses (overflow, malformed text) that slipped past validation:
        # the client's fault, so a 400, but logged because validation should have caught it.
        logger.warning("database refused a request value: %s", exc)
        set_rollback()
        return Response(
            {"error": "a value in the request is out of range or malformed"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, ValidationError):
        response.data = {"error": "; ".join(_flatten(data)) or "invalid input", "fields": data}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"error": str(data["detail"]), **data}
    return response
