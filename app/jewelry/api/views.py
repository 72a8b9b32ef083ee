"""API views: thin adapters from HTTP to the selectors and services of each domain.

Tenant scoping happens in the managers (TenantJWTAuthentication activates the tenant), so a
lookup by id through a selector is a 404 for another tenant's row. Query counts per request are
constant (pinned in tests/app/api/test_query_counts.py) except under the `n_plus_one` fault.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jewelry.api import query_params
from jewelry.api.serializers import (
    CustomerDetailSerializer,
    CustomerSerializer,
    DashboardStatsSerializer,
    ErrorSerializer,
    ItemSerializer,
    SaleCreateRequestSerializer,
    SaleDetailSerializer,
    SaleSerializer,
)
from jewelry.customers.models import Customer
from jewelry.customers.selectors import customer_detail, customer_list, customer_purchases
from jewelry.dashboard.selectors import dashboard_stats
from jewelry.inventory.models import Item
from jewelry.inventory.selectors import MAX_SEARCH_LENGTH, inventory_list, item_detail
from jewelry.sales.checkout_input import CheckoutInputError, checkout
from jewelry.sales.selectors import sale_detail, sale_list
from jewelry.sales.services import CheckoutError

RECENT_SALES_ON_CUSTOMER = 10

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="invalid parameter"),
    401: OpenApiResponse(ErrorSerializer, description="missing, invalid or expired token"),
}
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="unknown id or another shop's")}
SEARCH = OpenApiParameter(
    "search",
    {"type": "string", "maxLength": MAX_SEARCH_LENGTH, "pattern": "^[^\\u0000]*$"},
    description="case-insensitive substring to look for",
)
POSITIVE_ID = {"type": "integer", "minimum": 1, "maximum": query_params.MAX_ID}


@extend_schema(
    parameters=[
        OpenApiParameter("category", POSITIVE_ID, description="category id"),
        OpenApiParameter("karat", OpenApiTypes.INT, enum=list(Item.KARATS)),
        SEARCH,
    ],
    responses={200: ItemSerializer(many=True), **ERRORS, **NOT_FOUND},
)
class InventoryListView(generics.ListAPIView):
    serializer_class = ItemSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        filters = query_params.inventory_filters(self.request.query_params)
        return inventory_list(filters=filters)


@extend_schema(responses={200: ItemSerializer, **ERRORS, **NOT_FOUND})
class InventoryDetailView(APIView):
    def get(self, request: Request, pk: int) -> Response:
        try:
            item = item_detail(item_id=pk)
        except Item.DoesNotExist:
            raise Http404("no such item in this shop") from None
        return Response(ItemSerializer(item).data)


class SaleListCreateView(generics.ListAPIView):
    serializer_class = SaleSerializer
    parser_classes = [JSONParser]  # the body is JSON only; a form post is a clear 415

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return sale_list()

    @extend_schema(responses={200: SaleSerializer(many=True), **ERRORS, **NOT_FOUND})
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=SaleCreateRequestSerializer,
        responses={
            201: SaleDetailSerializer,
            400: OpenApiResponse(ErrorSerializer, description="malformed body or refused sale"),
            401: ERRORS[401],
            409: OpenApiResponse(ErrorSerializer, description="out of stock"),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            sale, _payments = checkout(request.data, cashier=request.user)  # type: ignore[arg-type]
        except (CheckoutInputError, CheckoutError) as error:
            return Response(error.as_dict(), status=error.status)
        return Response(
            SaleDetailSerializer(sale_detail(sale_id=sale.pk)).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema(
    parameters=[SEARCH], responses={200: CustomerSerializer(many=True), **ERRORS, **NOT_FOUND}
)
class CustomerListView(generics.ListAPIView):
    serializer_class = CustomerSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return customer_list(q=query_params.search_text(self.request.query_params))


@extend_schema(responses={200: CustomerDetailSerializer, **ERRORS, **NOT_FOUND})
class CustomerDetailView(APIView):
    def get(self, request: Request, pk: int) -> Response:
        try:
            customer = customer_detail(customer_id=pk)
        except Customer.DoesNotExist:
            raise Http404("no such customer in this shop") from None
        # Header rows only: the customer's lines are on the sale, not needed in this list.
        customer.recent_sales = list(  # type: ignore[attr-defined]
            customer_purchases(customer=customer, limit=RECENT_SALES_ON_CUSTOMER).prefetch_related(
                None
            )
        )
        return Response(CustomerDetailSerializer(customer).data)


@extend_schema(responses={200: DashboardStatsSerializer, 401: ERRORS[401]})
class DashboardStatsView(APIView):
    def get(self, request: Request) -> Response:
        return Response(dashboard_stats())


def unknown_path(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other path under /api/: a JSON 404 (not Django's HTML page), hinting a missing slash.

    A plain Django view, not an APIView: it needs no token, so a client learns the path is
    wrong before it learns it is unauthenticated.
    """
    message = f"no API endpoint at {request.path[:200]}"
    if not request.path.endswith("/"):
        try:
            resolved = resolve(request.path + "/")
        except Resolver404:
            resolved = None
        if resolved is not None and resolved.func is not unknown_path:
            message += f"; did you mean {request.path}/ ?"
    return JsonResponse({"error": message}, status=404)
