"""Writes of the sales domain. A checkout is one atomic transaction."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, When
from django.utils import timezone

from jewelry.core.tenancy import active_tenant_id
from jewelry.customers.models import Customer, LoyaltyLedgerEntry, LoyaltyTier
from jewelry.inventory.models import Item
from jewelry.reports.summaries import add_completed_sale
from jewelry.sales.models import Payment, Sale, SaleLine
from jewelry.tenants.models import Branch, Terminal, User

MAX_LINES = 50
MAX_QUANTITY_PER_LINE = 1000
CENT = Decimal("0.01")


@dataclass(frozen=True)
class LineRequest:
    item_id: int
    quantity: int


@dataclass(frozen=True)
class PaymentRequest:
    method: str
    amount: Decimal


class CheckoutError(Exception):
    """A checkout the shop refuses; `code` is stable for clients, `message` is for people."""

    status = 400

    def __init__(self, code: str, message: str, *, item_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.item_id = item_id

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.item_id is not None:
            body["item_id"] = self.item_id
        return body


class OutOfStock(CheckoutError):
    status = 409


def loyalty_points_for(total: Decimal) -> int:
    rate = Decimal(settings.LOYALTY_POINTS_PER_CURRENCY_UNIT)
    return int((total * rate).to_integral_value(rounding=ROUND_FLOOR))


def _validate(lines: Sequence[LineRequest], payments: Sequence[PaymentRequest]) -> None:
    if not lines:
        raise CheckoutError("empty_cart", "a sale needs at least one line")
    if len(lines) > MAX_LINES:
        raise CheckoutError("too_many_lines", f"a sale has at most {MAX_LINES} lines")
    seen: set[int] = set()
    for line in lines:
        if not 0 < line.quantity <= MAX_QUANTITY_PER_LINE:
            raise CheckoutError(
                "invalid_quantity",
                f"quantity must be between 1 and {MAX_QUANTITY_PER_LINE}",
                item_id=line.item_id,
            )
        if line.item_id in seen:
            raise CheckoutError("duplicate_item", "each item appears once; raise its quantity")
        seen.add(line.item_id)
    if not payments:
        raise CheckoutError("no_payment", "a sale needs at least one payment")
    for payment in payments:
        if payment.method not in Payment.Method.values:
            raise CheckoutError(
                "invalid_payment_method", f"payment method must be one of {Payment.Method.values}"
            )
        if payment.amount <= 0:
            raise CheckoutError("invalid_payment_amount", "payment amounts must be positive")


def _tier_for(points: int, current_tier_id: int) -> int:
    """The highest tier whose threshold `points` reach; tiers never go down on a purchase."""
    tier_id = (
        LoyaltyTier.objects.filter(min_points__lte=points)
        .order_by("-min_points")
        .values_list("pk", flat=True)
        .first()
    )
    return tier_id if tier_id is not None else current_tier_id


def sale_create(
    *,
    cashier: User | None,
    lines: Sequence[LineRequest],
    payments: Sequence[PaymentRequest],
    customer_id: int | None = None,
    terminal_id: int | None = None,
    created_at: datetime | None = None,
) -> Sale:
    """Sell `lines` in the active tenant: decrement stock, record payments, award loyalty points.

    Items are locked in id order (SELECT … FOR UPDATE), so concurrent checkouts of the same
    items serialise without deadlocks, and the last unit is sold once.
    """
    _validate(lines, payments)
    tenant_id = active_tenant_id()
    with transaction.atomic():
        terminal = None
        if terminal_id is not None:
            terminal = Terminal.objects.select_related("branch").filter(pk=terminal_id).first()
            if terminal is None:
                raise CheckoutError("unknown_terminal", f"terminal {terminal_id} does not exist")
        branch = terminal.branch if terminal else Branch.objects.order_by("id").first()
        if branch is None:
            raise CheckoutError("no_branch", "this shop has no branch to sell from")
        customer = None
        if customer_id is not None:
            # Locked: two tills crediting the same customer must not lose points.
            customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
            if customer is None:
                raise CheckoutError("unknown_customer", f"customer {customer_id} does not exist")

        wanted = {line.item_id: line.quantity for line in lines}
        items = {
            item.pk: item
            for item in Item.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
        }
        for item_id, quantity in wanted.items():
            item = items.get(item_id)
            if item is None:
                raise CheckoutError(
                    "unknown_item", f"item {item_id} does not exist", item_id=item_id
                )
            if item.quantity < quantity:
                raise OutOfStock(
                    "out_of_stock",
                    f"only {item.quantity} of item {item_id} left",
                    item_id=item_id,
                )

        total = sum(
            (items[item_id].price * quantity for item_id, quantity in wanted.items()), Decimal(0)
        ).quantize(CENT)
        paid = sum((p.amount for p in payments), Decimal(0)).quantize(CENT)
        if paid != total:
            raise CheckoutError(
                "payment_mismatch", f"payments add up to {paid}, the total is {total}"
            )

        points = loyalty_points_for(total) if customer else 0
        sale = Sale.objects.create(
            tenant_id=tenant_id,
            number=f"S-{secrets.token_hex(6).upper()}",
            branch=branch,
            terminal=terminal,
            cashier=cashier,
            customer=customer,
            total=total,
            loyalty_points_awarded=points,
            created_at=created_at or timezone.now(),
        )
        SaleLine.objects.bulk_create(
            SaleLine(
                tenant_id=tenant_id,
                sale=sale,
                item_id=item_id,
                quantity=quantity,
                unit_price=items[item_id].price,
                line_total=(items[item_id].price * quantity).quantize(CENT),
            )
            for item_id, quantity in wanted.items()
        )
        Payment.objects.bulk_create(
            Payment(tenant_id=tenant_id, sale=sale, method=p.method, amount=p.amount.quantize(CENT))
            for p in payments
        )
        # The reports' all-time summary, in this transaction (the items are locked above).
        add_completed_sale(
            tenant_id=tenant_id,
            lines=[
                (item_id, qty, (items[item_id].price * qty).quantize(CENT))
                for item_id, qty in wanted.items()
            ],
        )
        # One statement for every line's stock: the rows are already locked above.
        Item.objects.filter(pk__in=wanted).update(
            quantity=Case(
                *(When(pk=item_id, then=F("quantity") - qty) for item_id, qty in wanted.items())
            )
        )
        if customer is not None and points:
            LoyaltyLedgerEntry.objects.create(
                tenant_id=tenant_id,
                customer=customer,
                sale=sale,
                points=points,
                reason="purchase",
                created_at=sale.created_at,
            )
            new_points = customer.loyalty_points + points
            Customer.objects.filter(pk=customer.pk).update(
                loyalty_points=new_points, tier_id=_tier_for(new_points, customer.tier_id)
            )
    return sale
