"""Parse and validate a checkout body, shared by `POST /pos/checkout/` and `POST /api/sales/`.

The body (docs/architecture.md):
    {"customer_id": int or null, "terminal_id": int or null,
     "items": [{"item_id": int, "quantity": int}],
     "payments": [{"method": "cash"/"card"/"transfer", "amount": "123.45"}]}

Only the shape and types are checked here; whether the ids exist in the tenant, the stock and
the payment total are checked by `sale_create`, inside its transaction. Every id is bounded to
PostgreSQL's bigint so an absurd number is a clear 400, never a database overflow (500).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from jewelry.sales.models import Payment, Sale
from jewelry.sales.services import (
    MAX_LINES,
    MAX_QUANTITY_PER_LINE,
    LineRequest,
    PaymentRequest,
    sale_create,
)
from jewelry.tenants.models import User

MAX_PAYMENTS = 10
MAX_ID = 2**63 - 1  # bigint
# Payment.amount is DECIMAL(14, 2): anything at or above 10**12 cannot be stored.
MAX_AMOUNT = Decimal("999999999999.99")

CheckoutInput = tuple[list[LineRequest], list[PaymentRequest], int | None, int | None]


class CheckoutInputError(ValueError):
    """The body is not a well-formed checkout; `message` says which field and why."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_dict(self) -> dict[str, object]:
        return {"error": "invalid_input", "message": self.message}


def _is_int(value: object) -> bool:
    # bool is an int subclass; `true` is not a quantity.
    return isinstance(value, int) and not isinstance(value, bool)


def _id(value: object, field: str, *, nullable: bool) -> int | None:
    if value is None and nullable:
        return None
    if not _is_int(value) or not 0 < value <= MAX_ID:  # type: ignore[operator]
        kind = "a positive integer or null" if nullable else "a positive integer"
        raise CheckoutInputError(f"{field} must be {kind}")
    return int(value)  # type: ignore[arg-type]


def _amount(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise CheckoutInputError(f'{field} must be a decimal string such as "123.45"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise CheckoutInputError(f'{field} must be a decimal string such as "123.45"') from None
    if not amount.is_finite():
        raise CheckoutInputError(f"{field} must be a finite number")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise CheckoutInputError(f"{field} has at most 2 decimal places")
    if not Decimal(0) < amount <= MAX_AMOUNT:
        raise CheckoutInputError(f"{field} must be between 0.01 and {MAX_AMOUNT}")
    return amount


def _list(data: Mapping[str, Any], field: str, limit: int) -> list[Any]:
    value = data.get(field)
    if not isinstance(value, list):
        raise CheckoutInputError(f"{field} must be a list")
    if not value:
        raise CheckoutInputError(f"{field} must not be empty")
    if len(value) > limit:
        raise CheckoutInputError(f"{field} has at most {limit} entries")
    return value


def _line(entry: object, index: int) -> LineRequest:
    where = f"items[{index}]"
    if not isinstance(entry, Mapping):
        raise CheckoutInputError(f'{where} must be an object {{"item_id", "quantity"}}')
    item_id = _id(entry.get("item_id"), f"{where}.item_id", nullable=False)
    quantity = entry.get("quantity")
    if not _is_int(quantity) or not 0 < quantity <= MAX_QUANTITY_PER_LINE:
        raise CheckoutInputError(
            f"{where}.quantity must be an integer between 1 and {MAX_QUANTITY_PER_LINE}"
        )
    return LineRequest(item_id=item_id, quantity=quantity)  # type: ignore[arg-type]


def _payment(entry: object, index: int) -> PaymentRequest:
    where = f"payments[{index}]"
    if not isinstance(entry, Mapping):
        raise CheckoutInputError(f'{where} must be an object {{"method", "amount"}}')
    method = entry.get("method")
    if not isinstance(method, str) or method not in Payment.Method.values:
        raise CheckoutInputError(
            f"{where}.method must be one of {', '.join(Payment.Method.values)}"
        )
    return PaymentRequest(method=method, amount=_amount(entry.get("amount"), f"{where}.amount"))


def parse_checkout(data: object) -> CheckoutInput:
    """Return `(lines, payments, customer_id, terminal_id)` or raise CheckoutInputError.

    `data` is the decoded JSON body (a dict from `json.loads` or DRF's `request.data`).
    Amounts may be strings, ints, floats or Decimals; quantities and ids must be integers.
    """
    if not isinstance(data, Mapping):
        raise CheckoutInputError('the body must be a JSON object with "items" and "payments"')
    lines = [_line(entry, i) for i, entry in enumerate(_list(data, "items", MAX_LINES))]
    seen: set[int] = set()
    for line in lines:
        if line.item_id in seen:
            raise CheckoutInputError(f"item {line.item_id} appears twice; raise its quantity")
        seen.add(line.item_id)
    payments = [_payment(entry, i) for i, entry in enumerate(_list(data, "payments", MAX_PAYMENTS))]
    customer_id = _id(data.get("customer_id"), "customer_id", nullable=True)
    terminal_id = _id(data.get("terminal_id"), "terminal_id", nullable=True)
    return lines, payments, customer_id, terminal_id


def checkout(data: object, *, cashier: User) -> tuple[Sale, list[PaymentRequest]]:
    """Parse a checkout body and sell it: the one path of the POS and of `POST /api/sales/`.

    Raises CheckoutInputError for a malformed body, CheckoutError (or OutOfStock) for a sale
    the shop refuses; both carry `.status` and `.as_dict()`.
    """
    lines, payments, customer_id, terminal_id = parse_checkout(data)
    sale = sale_create(
        cashier=cashier,
        lines=lines,
        payments=payments,
        customer_id=customer_id,
        terminal_id=terminal_id,
    )
    return sale, payments
