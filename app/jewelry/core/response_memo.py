"""The `leak` fault: a module-level memo of rendered responses that is never evicted.

A realistic leak: someone memoises "the page this request rendered" in a dict at module
level, keyed by something unique to the request (here the path, query and arrival time), so
no key is ever read again and nothing is ever removed. Each worker keeps a copy of every body
it served, a few KiB per request, until it dies. Off unless `LAB_FAULTS` contains `leak`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from jewelry.core import faults

_RENDERED: dict[tuple[str, str, float, int], bytes] = {}
_LOCK = threading.Lock()
_SEQUENCE = itertools.count()


def memo_size() -> int:
    """How many bodies this process holds (tests read it)."""
    return len(_RENDERED)


class ResponseMemoMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if faults.enabled("leak") and not response.streaming:
            key = (request.path, request.META.get("QUERY_STRING", ""), time.time(), next(_SEQUENCE))
            with _LOCK:
                _RENDERED[key] = bytes(response.content)
        return response
