"""Property-based fuzzing of every API operation from its own OpenAPI schema (schemathesis).

Each operation gets a bounded number of generated requests, valid and invalid, sent in-process
to the Django WSGI handler with a real token, against the real database. Every response must
be no 500, a documented status code, and match the documented JSON shape. This is how the
schema is "later used to fuzz the API", kept small enough for every `make test`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.app.api.test_schema import DOCUMENTED_OPERATIONS as OPERATIONS
from tests.app.factories import Shop

# Not checked: "positive_data_acceptance". A schema-valid checkout still names items that do
# not exist or payments that do not add up; refusing it (400) is the API working.
EXAMPLES = 150  # per generation mode, spread over the 9 operations


@pytest.fixture
def wsgi_app() -> Iterator[WSGIHandler]:
    """The real Django WSGI handler, minus per-request connection recycling.

    Django closes "old" DB connections around each request; inside the test's transaction that
    would drop it. The test client disconnects the same handlers for the same reason.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app: WSGIHandler) -> Any:
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)


@pytest.fixture
def auth_header(shop: Shop) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {RefreshToken.for_user(shop.user).access_token}",
        # The in-process WSGI transport does not inflate GZipMiddleware's answers.
        "Accept-Encoding": "identity",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_every_generated_request_as_documented(
    api_schema: Any, auth_header: dict[str, str], mode: GenerationMode
) -> None:
    # Plain @given over the schema's strategy: schemathesis's lazy pytest loader does not run
    # under pytest 9 (it reads a private node attribute that is gone).
    @given(case=api_schema.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # no .hypothesis/ folder in the checkout
        derandomize=True,  # the same cases every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        excluded = [positive_data_acceptance]
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
            # The mutation was in the headers (typically: drop Authorization), and the test
            # sends its own valid token over it: the request that arrives is not the invalid
            # one, so it must not be judged as such. Every other check still applies.
            excluded.append(negative_data_rejection)
        response = case.call_and_validate(headers=auth_header, excluded_checks=excluded)
        seen.add((case.operation.label, response.status_code // 100))

    seen: set[tuple[str, int]] = set()
    call()

    # The fuzzing reached every operation, and it is not all one kind of answer.
    assert {label for label, _ in seen} == {
        f"{method.upper()} {path}" for path, method in OPERATIONS
    }, seen
    assert {kind for _, kind in seen} >= ({2, 4} if mode is GenerationMode.POSITIVE else {4}), seen
