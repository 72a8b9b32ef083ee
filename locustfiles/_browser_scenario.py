"""A cashier's browser: real Chromium signing in, browsing and selling through the POS page.

Imported by locustfiles/browser_users.py only when browser users are asked for. One task is
one visit of the back office in a fresh browser context (an empty cache, as a new cashier's):
sign in, dashboard, inventory, an item, inventory again (a repeat visit: its assets must come
from the cache), the POS page where the cashier searches as they type, adds the first item
in stock and checks out, then the dashboard again. Every page load is measured
(locustfiles/_browser.py).
"""

from __future__ import annotations

import locust  # noqa: F401  - first: gevent monkey-patching before anything else

# isort: split
import os
import random
from typing import Any

from locust import between, task
from locust_plugins.users.playwright import pw
from playwright.async_api import Page

from lab.target_safety import check_target
from locustfiles import (
    _accounts,
    _plugin,  # noqa: F401  - registers the lab's listeners
    _tracing,
)
from locustfiles._browser import BrowsingSession, LabPlaywrightUser, PageLoad, measure_page_load
from locustfiles._browser import timed_action as timed
from locustfiles._tenant_checks import ContentError, page_problem
from locustfiles._users import LOGIN_PATH, SEARCH_WORDS

SALE_DONE = "#checkout-result.ok, #checkout-result.error"


class BrowserUser(LabPlaywrightUser):  # the name is _settings.BROWSER_SCENARIO
    wait_time = between(2, 5)
    preferred_roles = ("cashier",)

    def __init__(self, environment: Any) -> None:
        # From the master's ledger like every lab user's (_accounts.py); taken here, not in
        # on_start, because the Playwright user copies its attributes at construction.
        credential = _accounts.take(environment, self.preferred_roles)
        self.credential: Any = credential
        self.tenant_id = credential.tenant_id
        self._context = {"scenario": type(self).__name__, "tenant_id": self.tenant_id}
        self.sales = 0
        # Chromium forces https on some host names (a bare `app` is the HSTS-preloaded .app
        # top-level domain): the Compose lab names the app `jewelry-app` for browsers.
        if target := os.environ.get("LAB_BROWSER_TARGET"):
            allowed = os.environ.get("LAB_ALLOW_TARGETS", "").split(",")
            check_target(target, allowed)  # the same allow-list as Locust's own target
            self.host = target
        super().__init__(environment)  # copies this user into its sub-user: attributes first

    def on_stop(self) -> None:
        super().on_stop()
        if self.credential is not None:
            credential, self.credential = self.credential, None  # on_stop may come twice
            _accounts.give_back(self.environment, credential)

    def context(self) -> dict[str, Any]:
        return self._context

    def span_attributes(self) -> dict[str, Any]:
        tracing = _tracing.active()  # the archive files spans by lab.run_id
        return {
            "lab.scenario": type(self).__name__,
            "lab.tenant_id": self.tenant_id,
            "lab.run_id": tracing.run_id if tracing else "",
        }

    def own_page(self, marker: str | None = None) -> Any:
        return lambda html: page_problem(html, self.tenant_id, marker)

    @task
    @pw
    async def visit_and_sell(self, page: Page) -> None:
        session = BrowsingSession(self.browser_context)
        session.watch(page)
        if not await self.sign_in(session, page):
            return
        steps = (
            ("/dashboard/", "/dashboard/", 'id="low-stock-items"'),
            ("/inventory/", "/inventory/", "data-item-id"),
        )
        for name, url, marker in steps:
            load = await measure_page_load(self, session, page, name, url, self.own_page(marker))
            if load.failure:
                return
        link = await page.query_selector("tr[data-item-id] a")
        if link is not None:
            href = await link.get_attribute("href")
            await measure_page_load(self, session, page, "/inventory/[id]", href, self.own_page())
        await measure_page_load(self, session, page, "/inventory/", "/inventory/", self.own_page())
        pos = await measure_page_load(self, session, page, "/pos/", "/pos/", self.own_page())
        if not pos.failure:
            await self.sell(session, page)
        await measure_page_load(self, session, page, "/dashboard/", "/dashboard/", self.own_page())

    async def sign_in(self, session: BrowsingSession, page: Page) -> bool:
        login: PageLoad = await measure_page_load(self, session, page, LOGIN_PATH, LOGIN_PATH)
        if login.failure:
            return False

        async def submit() -> tuple[None, str | None]:
            await page.fill("#id_username", self.credential.email)
            await page.fill("#id_password", self.credential.password)
            async with page.expect_navigation(wait_until="load"):
                await page.click("form[action='/accounts/login/'] button[type=submit]")
            if "/dashboard/" not in page.url:
                return None, f"sign-in ended at {page.url}"
            return None, None

        _, failure = await timed(self, session, "sign in", submit)
        return failure is None

    async def sell(self, session: BrowsingSession, page: Page) -> None:
        """Search as you type, add the first item in stock, check out; wait for the receipt."""
        add = "#product-results button:has-text('Add')"

        async def search() -> tuple[None, str | None]:
            # The page lists products on load: wait for the answer to what was typed, not for
            # any Add button. Typing faster than the script's 200 ms debounce sends one search.
            word = random.choice(SEARCH_WORDS)
            async with page.expect_response(lambda r: r.url.endswith(f"/pos/search/?q={word}")):
                await page.type("#product-q", word, delay=60)
            try:
                await page.wait_for_selector(add, timeout=3_000)
            except Exception:  # nothing in stock matches the word: list the shop's stock
                async with page.expect_response(lambda r: r.url.endswith("/pos/search/?q=")):
                    await page.fill("#product-q", "")
                await page.wait_for_selector(add, timeout=10_000)
            return None, None

        _, failure = await timed(self, session, "/pos/search/ typing", search)
        if failure:
            return
        await page.click(add)

        async def checkout() -> tuple[str | None, str | None]:
            await page.click("#checkout")
            result = await page.wait_for_selector(SALE_DONE, timeout=30_000)
            number = await result.get_attribute("data-sale-number")
            if not number:
                return None, str(ContentError(f"not sold: {await result.text_content()}"))
            return number, None

        number, failure = await timed(self, session, "/pos/checkout/", checkout)
        if number:
            self.sales += 1
