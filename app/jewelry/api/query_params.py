"""Strict parsing of list query parameters: a bad value is a 400 that names it, never a 500.

PostgreSQL rejects NUL characters in text and `bigint` overflows, so both are refused here,
before a query is built.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from jewelry.api.errors import InvalidParameter
from jewelry.inventory.models import Item
from jewelry.inventory.selectors import MAX_SEARCH_LENGTH, InventoryFilters

MAX_ID = 2**63 - 1  # bigint


def optional_int(
    params: Mapping[str, str], name: str, *, allowed: Collection[int] | None = None
) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    # The length check comes first: int() of thousands of digits raises, and 20 digits > MAX_ID.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_ID:
        raise InvalidParameter(f"{name} must be a positive integer, got {raw[:40]!r}")
    value = int(raw)
    if allowed is not None and value not in allowed:
        choices = ", ".join(str(v) for v in sorted(allowed))
        raise InvalidParameter(f"{name} must be one of {choices}, got {value}")
    return value


def search_text(params: Mapping[str, str], name: str = "search") -> str:
    raw = params.get(name, "")
    # Measured before stripping, so the documented maxLength is exactly what is refused.
    if len(raw) > MAX_SEARCH_LENGTH:
        raise InvalidParameter(f"{name} is at most {MAX_SEARCH_LENGTH} characters, got {len(raw)}")
    if "\x00" in raw:
        raise InvalidParameter(f"{name} must not contain NUL characters")
    return raw.strip()


def inventory_filters(params: Mapping[str, str]) -> InventoryFilters:
    return InventoryFilters(
        category_id=optional_int(params, "category"),
        karat=optional_int(params, "karat", allowed=Item.KARATS),
        q=search_text(params),
    )
