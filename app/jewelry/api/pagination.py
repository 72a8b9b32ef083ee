"""Page-number pagination: `{"count","next","previous","results"}`, bounded page sizes.

A page past the end or a non-number is a 404 with a JSON `error`; a `page_size` that is not a
positive integer is a 400 (DRF would silently fall back to the default, hiding client bugs).
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from jewelry.api.errors import InvalidParameter


class BoundedPageNumberPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    invalid_page_message = "invalid page: {message}"

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param, "").strip()
        if not raw:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or int(raw[:9]) < 1:
            raise InvalidParameter(
                f"{self.page_size_query_param} must be an integer from 1 to {self.max_page_size}"
            )
        # More than 9 digits is above the cap anyway (and int() of a huge string raises).
        return self.max_page_size if len(raw) > 9 else min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view: object) -> list[dict[str, object]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = {**parameter["schema"], "minimum": 1}  # type: ignore[dict-item]
        return parameters
