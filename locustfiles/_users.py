"""What every lab user shares: a credential, tenant checks, content checks, traced tasks.

- Each user takes an account of `runs/credentials.json` when it starts, from the one ledger
  of the master (or single process) through `_accounts` (locust-plugins' `Distributor`):
  users of different workers never share an account while a free one is left, and a user
  that stops gives its account back.
- `context()` puts the scenario and tenant on every request event, so the
  per-request record knows them.
- Every task runs inside a task span (see `_tracing`); `__init_subclass__`
  wraps the class's tasks, so a scenario author writes plain `@task`s. A task marked
  `@workflow("…")` is also one workflow transaction (`_transactions`).
- Responses are checked for content, and every JSON object carrying a
  `tenant_id` (and every page's `<body data-tenant-id>`) must be the user's
  own tenant, else the request fails as `TenantLeak` (the checks themselves
  are `_tenant_checks`, free of Locust so tests run them in-process).
"""

from __future__ import annotations

import functools
import json
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from locust import User
from locust.exception import StopUser

from locustfiles import _accounts, _arrivals, _tracing, _transactions
from locustfiles._credentials import Credential
from locustfiles._tenant_checks import ContentError, json_problem, page_problem

CSRF_INPUT = re.compile(r"name=\"csrfmiddlewaretoken\" value=\"([^\"]+)\"")
SEARCH_WORDS = ("ring", "gold", "silver", "necklace", "bracelet", "earring", "pendant", "chain")


class SignedOut(Exception):
    """A page answered with the sign-in form: the user's session was lost (it signs in again)."""


LOGIN_PATH = "/accounts/login/"
LOGIN_FORM = f'action="{LOGIN_PATH}"'
SHORT_REASON_CHARS = 120  # a 503's one-line body ("database unavailable (...)") goes in the reason


def ids_in(html: str, attribute: str) -> list[int]:
    """Ids from `data-<attribute>="N"` markers in a page."""
    return [int(v) for v in re.findall(rf"data-{attribute}=\"(\d+)\"", html)]


def select_options(html: str, select_name: str) -> list[str]:
    match = re.search(rf"<select name=\"{select_name}\">(.*?)</select>", html, re.S)
    if not match:
        return []
    return [v for v in re.findall(r"<option value=\"([^\"]*)\"", match.group(1)) if v]


def _traced_task(function: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(function, "_lab_traced", False):
        return function
    workflow = _transactions.workflow_name(function)
    # A workflow's transaction runs inside the task's trace scope: its span is the task span.
    body = function if workflow is None else _transactions.as_transaction(workflow, function)

    @functools.wraps(function)
    def run(user: LabUser, *args: Any, **kwargs: Any) -> Any:
        tracing = _tracing.active()
        if tracing is None:
            return body(user, *args, **kwargs)
        return tracing.run_task(body, user, *args, **kwargs)

    run._lab_traced = True  # type: ignore[attr-defined]
    return run


class LabUser(User):
    """Base of every scenario (used with HttpUser or FastHttpUser)."""

    abstract = True
    preferred_roles: tuple[str, ...] = ()
    # Users of this process that stopped because they could not sign in (reset at each test
    # start by the plugin): the load-plan check counts them as the app's doing, not missing load.
    gave_up = 0
    # Users of this process that signed in at their start (same reset): a stress step's steady
    # part starts once all its users have (locustfiles/_shapes.py).
    signed_in = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tasks = [
            _traced_task(t) if callable(t) and not isinstance(t, type) else t for t in cls.tasks
        ]

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # Taken in on_start (the user's own greenlet waits for the master's answer there).
        self.credential: Credential | None = None
        self.tenant_id: int | None = None
        self._context = {"scenario": type(self).__name__, "tenant_id": None}
        self.signed_in_again = 0
        # Open model: how late the current task started after its intended start (_arrivals).
        self.schedule_lag_s: float | None = None
        tracing = _tracing.active()
        if tracing is not None:
            client: Any = self.client  # type: ignore[attr-defined]
            client.request = tracing.wrap_request(client.request, self.span_attributes)

    def context(self) -> dict[str, Any]:
        if self.schedule_lag_s is None:
            return self._context
        return {**self._context, "schedule_lag_s": self.schedule_lag_s}

    def span_attributes(self) -> dict[str, Any]:
        tracing = _tracing.active()
        return {
            "lab.scenario": type(self).__name__,
            "lab.tenant_id": self.tenant_id,
            "lab.run_id": tracing.run_id if tracing else "",
        }

    def on_start(self) -> None:
        self.credential = _accounts.take(self.environment, self.preferred_roles)
        self.tenant_id = self.credential.tenant_id
        self._context = {"scenario": type(self).__name__, "tenant_id": self.tenant_id}
        login = _traced_task(type(self).login)
        for attempt in range(3):
            if login(self):
                LabUser.signed_in += 1
                _arrivals.first_wait(self)  # open model: the first task waits for its arrival
                return
            time.sleep(1 + attempt)  # gevent-patched: yields to other users
        LabUser.gave_up += 1
        raise StopUser()

    def on_stop(self) -> None:
        if self.credential is not None:
            credential, self.credential = self.credential, None  # Locust may call on_stop twice
            _accounts.give_back(self.environment, credential)

    def login(self) -> bool:  # overridden by scenarios that sign in
        return True

    # --- checked requests -------------------------------------------------------------------
    @contextmanager
    def checked(self, method: str, path: str, name: str, **kwargs: Any) -> Iterator[Any]:
        """A request whose checks run in the `with` body; a lost session is failed and healed.

        A page that answers with the sign-in form (the session is gone: Redis lost it, or it
        expired) fails as `SignedOut`, whatever the body's own checks said, and the user signs
        in again before its next task, as API users do on a 401: an outage costs the requests
        made during it, not the rest of the run.
        """
        client: Any = self.client  # type: ignore[attr-defined]
        signed_out = False
        with client.request(method, path, name=name, catch_response=True, **kwargs) as response:
            yield response
            if self._sent_to_login(path, response):
                signed_out = True
                response.failure(SignedOut("sent to the sign-in page: signing in again"))
        if signed_out:
            self.sign_in_again()

    @staticmethod
    def _sent_to_login(path: str, response: Any) -> bool:
        if path.startswith((LOGIN_PATH, "/api/")) or response.status_code != 200:
            return False
        if not response.headers.get("Content-Type", "").startswith("text/html"):
            return False
        return LOGIN_FORM in (response.text or "")

    def sign_in_again(self) -> bool:
        """Sign in again after a lost session; counted in `signed_in_again`."""
        self.signed_in_again += 1
        return bool(_traced_task(type(self).login)(self))

    def fail(self, response: Any, error: Exception) -> None:
        response.failure(error)

    def check_status(self, response: Any, *expected: int) -> bool:
        if response.status_code in expected:
            return True
        reason = ""
        if response.status_code >= 500:  # the app's one-line reason, e.g. "database unavailable"
            body = (response.text or "").strip()
            if body and len(body) <= SHORT_REASON_CHARS and "\n" not in body:
                reason = f" ({body})"
        self.fail(
            response, ContentError(f"HTTP {response.status_code}{reason}, expected {expected}")
        )
        return False

    def check_page(self, response: Any, marker: str | None = None) -> str | None:
        """A 200 HTML page of the user's own tenant (and containing `marker`)."""
        if not self.check_status(response, 200):
            return None
        html = response.text or ""
        problem = page_problem(html, self.tenant_id, marker)
        if problem is not None:
            self.fail(response, problem)
            return None
        response.success()
        return html

    def check_json(
        self,
        response: Any,
        *keys: str,
        status: int = 200,
        validate: Callable[[Any], str | None] | None = None,
    ) -> Any:
        """A JSON body with `keys`, whose every `tenant_id` is the user's own.

        `validate(data)` returns a complaint, or None when the content is right.
        """
        if not self.check_status(response, status):
            return None
        try:
            data = response.json()
        except (ValueError, TypeError):
            self.fail(response, ContentError("body is not JSON"))
            return None
        problem = json_problem(data, self.tenant_id, keys)
        if problem is not None:
            self.fail(response, problem)
            return None
        complaint = validate(data) if validate is not None else None
        if complaint:
            self.fail(response, ContentError(complaint))
            return None
        response.success()
        return data

    def search_word(self) -> str:
        return random.choice(SEARCH_WORDS)

    def csrf_cookie(self) -> str:
        client: Any = self.client  # type: ignore[attr-defined]
        jar = getattr(client, "cookiejar", None) or getattr(client, "cookies", None)
        for cookie in jar or []:
            if cookie.name == "csrftoken":
                return str(cookie.value)
        return ""

    # --- the HTML sign-in every session scenario uses ---------------------------------------
    def html_login(self) -> bool:
        with self.checked("GET", LOGIN_PATH, LOGIN_PATH) as response:
            if not self.check_status(response, 200):
                return False
            match = CSRF_INPUT.search(response.text or "")
            if match is None:
                self.fail(response, ContentError("login form has no csrfmiddlewaretoken"))
                return False
            response.success()
        form = {
            "username": self.credential.email,
            "password": self.credential.password,
            "csrfmiddlewaretoken": match.group(1),
        }
        with self.checked(
            "POST",
            "/accounts/login/",
            "/accounts/login/",
            data=form,
            headers={"Referer": f"{self.host}/accounts/login/"},
        ) as response:
            # Success redirects to /dashboard/, which the client follows.
            return self.check_page(response, marker=None) is not None and self._landed_on_dashboard(
                response
            )

    def _landed_on_dashboard(self, response: Any) -> bool:
        url = str(getattr(response, "url", "") or "")
        if "/dashboard/" in url or 'id="low-stock-items"' in (response.text or ""):
            return True
        self.fail(response, ContentError(f"login did not reach /dashboard/ (at {url})"))
        return False


def decode_jwt_expiry(token: str) -> float | None:
    """`exp` of a JWT (no signature check: the client only plans its refresh)."""
    import base64

    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return float(json.loads(base64.urlsafe_b64decode(payload))["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
