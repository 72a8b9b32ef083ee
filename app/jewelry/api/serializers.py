"""JSON shapes of the API's resources. Read-only: writes go through the domain services.

Every object that belongs to a tenant carries `tenant_id`, so a client (and the load tests) can
check it only ever sees its own shop's rows. Related rows are flattened to `<name>_id` plus a
label, read from the `select_related` join the selectors already make (no query per row).
"""

from __future__ import annotations

from rest_framework import serializers

from jewelry.customers.models import Customer
from jewelry.inventory.models import Item
from jewelry.sales.checkout_input import MAX_ID, MAX_PAYMENTS
from jewelry.sales.models import Payment, Sale, SaleLine
from jewelry.sales.services import MAX_LINES, MAX_QUANTITY_PER_LINE

# 0.01 … 999999999999.99 (DECIMAL(14, 2)), no sign, no zero: what parse_checkout accepts.
AMOUNT_PATTERN = r"^(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"


class ItemSerializer(serializers.ModelSerializer):
    category_name = serializers.CharField(source="category.name", read_only=True)
    branch_name = serializers.CharField(source="branch.name", read_only=True)
    is_low_stock = serializers.BooleanField(read_only=True)

    class Meta:
        model = Item
        fields = [
            "id",
            "tenant_id",
            "sku",
            "name",
            "category_id",
            "category_name",
            "branch_id",
            "branch_name",
            "metal",
            "karat",
            "weight_grams",
            "gemstone",
            "price",
            "quantity",
            "low_stock_threshold",
            "is_low_stock",
            "updated_at",
        ]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer):
    tier_name = serializers.CharField(source="tier.name", read_only=True)
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "tenant_id",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "tier_id",
            "tier_name",
            "loyalty_points",
            "created_at",
        ]
        read_only_fields = fields


class CustomerSaleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sale
        fields = ["id", "tenant_id", "number", "status", "total", "created_at"]
        read_only_fields = fields


class CustomerDetailSerializer(CustomerSerializer):
    recent_sales = CustomerSaleSerializer(many=True, read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "recent_sales"]
        read_only_fields = fields


class SaleSerializer(serializers.ModelSerializer):
    """A sale in the list: header only, its relations from one joined query."""

    customer_name = serializers.SerializerMethodField()
    cashier_email = serializers.SerializerMethodField()
    branch_name = serializers.CharField(source="branch.name", read_only=True)

    class Meta:
        model = Sale
        fields = [
            "id",
            "tenant_id",
            "number",
            "status",
            "total",
            "loyalty_points_awarded",
            "created_at",
            "branch_id",
            "branch_name",
            "terminal_id",
            "cashier_id",
            "cashier_email",
            "customer_id",
            "customer_name",
        ]
        read_only_fields = fields

    def get_customer_name(self, sale: Sale) -> str | None:
        return sale.customer.full_name if sale.customer_id else None

    def get_cashier_email(self, sale: Sale) -> str | None:
        return sale.cashier.email if sale.cashier_id else None


class SaleLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="item.sku", read_only=True)
    name = serializers.CharField(source="item.name", read_only=True)

    class Meta:
        model = SaleLine
        fields = [
            "id",
            "tenant_id",
            "item_id",
            "sku",
            "name",
            "quantity",
            "unit_price",
            "line_total",
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "tenant_id", "method", "amount"]
        read_only_fields = fields


class SaleDetailSerializer(SaleSerializer):
    """A sale with its lines and payments: the answer to a checkout."""

    lines = SaleLineSerializer(many=True, read_only=True)
    payments = PaymentSerializer(many=True, read_only=True)

    class Meta(SaleSerializer.Meta):
        fields = [*SaleSerializer.Meta.fields, "lines", "payments"]
        read_only_fields = fields


# --- Request bodies and non-model answers, for validation and the OpenAPI schema ---------------


class SaleLineRequestSerializer(serializers.Serializer):
    item_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY_PER_LINE)


class PaymentRequestSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    amount = serializers.RegexField(
        AMOUNT_PATTERN,
        help_text='a positive decimal string with at most 2 decimals, e.g. "123.45" '
        "(a JSON number is accepted too)",
    )


class SaleCreateRequestSerializer(serializers.Serializer):
    """Documents `POST /api/sales/`; `jewelry.sales.checkout_input.parse_checkout` validates it.

    The bounds mirror parse_checkout's, so a fuzzer's "schema-invalid" bodies are exactly the
    ones the API refuses.
    """

    customer_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, allow_null=True, required=False
    )
    terminal_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, allow_null=True, required=False
    )
    items = serializers.ListField(
        child=SaleLineRequestSerializer(),
        min_length=1,
        max_length=MAX_LINES,
        help_text="each item_id at most once",
    )
    payments = serializers.ListField(
        child=PaymentRequestSerializer(), min_length=1, max_length=MAX_PAYMENTS
    )


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    message = serializers.CharField(required=False)
    item_id = serializers.IntegerField(required=False)


class DashboardStatsSerializer(serializers.Serializer):
    tenant_id = serializers.IntegerField()
    sales_today = serializers.IntegerField()
    revenue_today = serializers.DecimalField(max_digits=16, decimal_places=2)
    sales_30d = serializers.IntegerField()
    revenue_30d = serializers.DecimalField(max_digits=16, decimal_places=2)
    inventory_items = serializers.IntegerField()
    inventory_units = serializers.IntegerField()
    inventory_value = serializers.DecimalField(max_digits=16, decimal_places=2)
    low_stock_items = serializers.IntegerField()
    customers = serializers.IntegerField()
    generated_at = serializers.DateTimeField()
