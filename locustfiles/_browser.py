"""Browser users' machinery: Debian's Chromium under locust-plugins' PlaywrightUser.

- `LabPlaywrightUser` is locust-plugins' `PlaywrightUser` (locust_plugins/users/playwright.py
  of the pinned locust-plugins 5.0.3) launched on Debian's Chromium through `executable_path`
  (no `playwright install`: nothing is downloaded), with the flags a root container needs.
  The plugin's module-level listeners are replaced: they start an asyncio loop in every
  Locust process, sleep 5 s at every test stop and run `reset` on the terminal at exit; here
  the loop starts with the first browser user only, so HTTP-only runs are untouched.
- `measure_page_load` navigates, waits for the load event and reads the page's own
  Navigation Timing, Largest Contentful Paint and Resource Timing entries. Each page load is
  its own trace: the page-load span is the root, and every request of the page (document,
  assets, the POS script's fetches) carries its `traceparent` and the lab's baggage, so the
  app's spans hang below it.
- Each page load is a Locust request event (`PAGE`, name `<page> (browser)`, time = load
  event) in the per-request record, plus one row of `page_loads/` and one row per static
  asset in `page_assets/` (lab/schemas.py), which the report's browser table and asset
  findings read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import gevent
import psutil
from locust import events
from locust.exception import CatchResponseError
from locust_plugins.users import playwright as lp_playwright
from locust_plugins.users.playwright import PlaywrightUser
from playwright.async_api import BrowserContext, Page, Playwright, Response, async_playwright

from lab.schemas import PAGE_ASSET_SCHEMA, PAGE_LOAD_SCHEMA
from locustfiles import _tracing
from locustfiles._record import PartWriter, failure_reason

logger = logging.getLogger(__name__)

CHROMIUM_ENV = "LAB_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"  # Debian's package
# As root in a container: no sandbox; no GPU, QUIC or background traffic to anywhere but
# the app; /dev/shm of a container is 64 MiB, too small for Chromium's shared memory.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
PAGE_TIMEOUT_MS = 30_000
STATIC_PREFIX = "/static/"
PAGE_REQUEST_TYPE = "PAGE"  # the method column of a page load in the per-request record
ACTION_REQUEST_TYPE = "UI"  # a click that waits for the app (sign in, checkout)
BROWSER_SUFFIX = " (browser)"

# Navigation Timing, LCP and Resource Timing of the current document, in ms from its start.
# A buffered PerformanceObserver hands over the LCP entries recorded so far at takeRecords().
_MEASURE_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const observer = new PerformanceObserver(() => {});
  observer.observe({type: "largest-contentful-paint", buffered: true});
  const lcp = observer.takeRecords();
  observer.disconnect();
  return {
    status: nav.responseStatus || 0,
    ttfb: nav.responseStart,
    dcl: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    documentTransfer: nav.transferSize,
    lcp: lcp.length ? lcp[lcp.length - 1].startTime : null,
    resources: performance.getEntriesByType("resource").map((r) => ({
      url: r.name, initiator: r.initiatorType, transfer: r.transferSize,
      encoded: r.encodedBodySize, decoded: r.decodedBodySize, status: r.responseStatus || 0,
    })),
  };
}"""
_LOAD_ENDED_JS = (
    "() => { const n = performance.getEntriesByType('navigation')[0];"
    " return !!n && n.loadEventEnd > 0; }"
)


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


# --- the asyncio loop and the Playwright driver, shared by the browser users of a process ----
events.test_start.remove_listener(lp_playwright.on_start)
events.test_stop.remove_listener(lp_playwright.on_stop)
events.quitting.remove_listener(lp_playwright.on_locust_quit)

_driver: Playwright | None = None
_launch_lock: asyncio.Lock | None = None


def ensure_loop() -> asyncio.AbstractEventLoop:
    """locust-plugins' asyncio loop, started in a greenlet by the first browser user."""
    loop = lp_playwright.loop
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        lp_playwright.loop = loop
        gevent.spawn(loop.run_forever)
    return loop


def _chromium_roots() -> set[int]:
    """Pids of the Chromium main processes below this process (one per launched browser)."""
    roots: set[int] = set()
    for process in psutil.Process().children(recursive=True):
        try:
            parent = process.parent()
            if process.name() == "chromium" and parent and parent.name() != "chromium":
                roots.add(process.pid)
        except psutil.Error:
            continue
    return roots


def process_tree_pss(pid: int | None) -> int | None:
    """Proportional set size of a Chromium and its children: memory that is this browser's
    (shared pages split among the processes sharing them, so browsers add up honestly)."""
    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue
        total += int(getattr(info, "pss", info.rss))
    return total


class LabPlaywrightUser(PlaywrightUser):
    """PlaywrightUser on Debian's Chromium; each user runs its own browser process."""

    abstract = True
    lab_browser = True  # the plugin keeps these out of runs unless LAB_BROWSERS / LAB_SCENARIO
    # locust-plugins writes a screenshot file into the working directory on a task's first
    # error; the lab writes only inside its runs folder, and records the failure instead.
    error_screenshot_made = True
    # The page loads and UI actions are this user's requests; a whole-task row would be a
    # third kind of row under a name no HTTP user has.
    log_tasks = False
    browser_pid: int | None = None

    def __init__(self, environment: Any) -> None:
        ensure_loop()
        super().__init__(environment)

    async def _pwprep(self) -> None:
        global _driver, _launch_lock
        if _launch_lock is None:
            _launch_lock = asyncio.Lock()
        async with _launch_lock:  # one launch at a time: the new Chromium is the new root
            if _driver is None:
                _driver = await async_playwright().start()
            self.playwright = _driver
            before = _chromium_roots()
            self.browser = await _driver.chromium.launch(
                executable_path=chromium_path(), args=list(CHROMIUM_FLAGS), headless=True
            )
            new = _chromium_roots() - before
            self.browser_pid = min(new) if new else None
        logger.debug("Chromium %s started (pid %s)", self.browser.version, self.browser_pid)

    def run_in_loop(self, coroutine: Any, timeout_s: float = 30.0) -> Any:
        """Run a coroutine on the browser loop from a greenlet, yielding while it runs."""
        future = asyncio.run_coroutine_threadsafe(coroutine, ensure_loop())
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            gevent.sleep(0.05)
        return future.result(timeout=0) if future.done() else None

    def on_stop(self) -> None:
        if self.browser is not None:
            try:
                self.run_in_loop(self.browser.close(), timeout_s=15.0)
            except Exception:  # a browser that already died has nothing left to close
                logger.debug("closing Chromium failed", exc_info=True)
            self.browser = None
        flush_browser_record()  # a page load that ended while the run stopped


# --- the browser records ------------------------------------------------------------------
# The same part writer as the per-request record (_record.PartWriter): complete parts, a
# flush timer, and a remote worker's parts sent to the master (_delivery.py).
class PageLoadRecorder(PartWriter):
    schema = PAGE_LOAD_SCHEMA
    label = "page-load record"
    record = "page_loads"


class PageAssetRecorder(PartWriter):
    schema = PAGE_ASSET_SCHEMA
    label = "page-asset record"
    record = "page_assets"


@dataclass
class BrowserRecord:
    run_id: str
    worker_id: str
    page_loads: PageLoadRecorder
    assets: PageAssetRecorder


_record: BrowserRecord | None = None


def browser_record() -> BrowserRecord | None:
    """The page-load and asset writers of this process's run (None outside a lab run)."""
    global _record
    from locustfiles._plugin import plugin  # the plugin imports the scenarios' modules

    lab = plugin()
    if lab is None or lab.settings is None or not lab.settings.run_id:
        return None
    settings = lab.settings
    if _record is None or _record.run_id != settings.run_id:
        flush_browser_record()
        _record = BrowserRecord(
            settings.run_id,
            lab.worker_id,
            lab.new_part_writer(PageLoadRecorder, settings),
            lab.new_part_writer(PageAssetRecorder, settings),
        )
        _record.page_loads.start_timer()
        _record.assets.start_timer()
    return _record


def flush_browser_record(**_kwargs: Any) -> None:
    if _record is not None:
        _record.page_loads.flush()
        _record.assets.flush()


events.test_stop.add_listener(flush_browser_record)
events.quitting.add_listener(flush_browser_record)


# --- measuring a page load ------------------------------------------------------------------
@dataclass
class BrowsingSession:
    """What one browser context has seen: asset headers and how often each page was loaded."""

    context: BrowserContext
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # asset path -> headers
    statuses: dict[str, int] = field(default_factory=dict)
    seen_assets: set[str] = field(default_factory=set)
    visits: dict[str, int] = field(default_factory=dict)

    def watch(self, page: Page) -> None:
        page.on("response", self._on_response)
        page.set_default_timeout(PAGE_TIMEOUT_MS)

    def _on_response(self, response: Response) -> None:
        path = urlsplit(response.url).path
        if path.startswith(STATIC_PREFIX):
            self.headers[path] = dict(response.headers)
            self.statuses[path] = response.status


@dataclass
class PageLoad:
    page: str
    load_ms: float
    failure: str | None
    html: str = ""


def stopped(user: Any) -> bool:
    """The run stopped this user and closed its browser while a page was loading: what fails
    now is the stop, not the app (an HTTP user's request in flight at the stop is dropped
    too)."""
    browser = getattr(user, "browser", None)
    return browser is None or not browser.is_connected()


def _us(ms: float | None) -> int | None:
    return None if ms is None else round(ms * 1000)


async def traced_headers(session: BrowsingSession) -> _tracing.TraceScope | None:
    """A new trace for what the browser does next; every request of it carries the context."""
    tracing = _tracing.active()
    if tracing is None:
        return None
    scope = tracing.open_scope()
    await session.context.set_extra_http_headers(
        {"traceparent": scope.traceparent, "baggage": tracing.baggage_header}
    )
    return scope


def finish_trace(
    user: Any, scope: _tracing.TraceScope | None, name: str, start_ns: int, failure: str | None
) -> None:
    tracing = _tracing.active()
    if tracing is None or scope is None:
        return
    attributes = {**user.span_attributes(), "lab.request_name": name}
    tracing.close_scope(scope, name, start_ns, time.time_ns(), attributes, failure)


def fire(
    user: Any,
    request_type: str,
    name: str,
    started: float,
    response_time_ms: float,
    length: int,
    failure: str | None,
    scope: _tracing.TraceScope | None,
) -> None:
    """The Locust request event (per-request record, stats) within the action's trace."""
    with _tracing.in_scope(scope):
        user.environment.events.request.fire(
            request_type=request_type,
            name=name,
            start_time=started,
            response_time=response_time_ms,
            response_length=length,
            context=user.context(),
            exception=CatchResponseError(failure) if failure else None,
            response=None,
            url=None,
        )


async def measure_page_load(
    user: Any,
    session: BrowsingSession,
    page: Page,
    name: str,
    url: str,
    check: Any = None,
) -> PageLoad:
    """Open `url` as the page `name`, record it (event, page-load row, asset rows).

    `check(html)` returns a complaint (the user's tenant checks), or None.
    """
    scope = await traced_headers(session)
    started, start_ns, clock = time.time(), time.time_ns(), time.perf_counter()
    failure: str | None = None
    data: dict[str, Any] = {}
    html = ""
    try:
        response = await page.goto(url, wait_until="load")
        await page.wait_for_function(_LOAD_ENDED_JS)
        data = await page.evaluate(_MEASURE_JS)
        status = response.status if response is not None else 0
        html = await page.content()
        if status >= 400 or status == 0:
            failure = f"HTTP {status}"
        elif check is not None:
            problem = check(html)
            failure = failure_reason(problem) if problem is not None else None
    except Exception as exc:  # a timeout or a crashed page is this load's failure
        if stopped(user):
            return PageLoad(name, 0.0, "stopped")
        failure = failure_reason(exc) or type(exc).__name__
        failure = failure.splitlines()[0][:300]
    load_ms = float(data.get("load") or (time.perf_counter() - clock) * 1000)
    visit = session.visits.get(name, 0) + 1
    session.visits[name] = visit
    resources = data.get("resources") or []
    transfer = sum(int(r.get("transfer") or 0) for r in resources)
    document_transfer = int(data.get("documentTransfer") or 0)
    fire(
        user,
        PAGE_REQUEST_TYPE,
        name + BROWSER_SUFFIX,
        started,
        load_ms,
        document_transfer + transfer,
        failure,
        scope,
    )
    record = browser_record()
    if record is not None:
        with _tracing.in_scope(scope):
            trace_id = _tracing.current_trace_id()
        ts_us = int(started * 1_000_000)
        record.page_loads.add(
            {
                "ts_start_us": ts_us,
                "scenario": type(user).__name__,
                "page": name,
                "url": urlsplit(url).path,
                "visit": visit,
                "status": int(data.get("status") or 0),
                "ttfb_us": _us(data.get("ttfb")),
                "dom_content_loaded_us": _us(data.get("dcl")),
                "load_us": _us(data.get("load")),
                "lcp_us": _us(data.get("lcp")),
                "resources": len(resources),
                "resource_transfer_bytes": transfer,
                "document_transfer_bytes": document_transfer,
                "resources_from_cache": sum(
                    1 for r in resources if not r.get("transfer") and r.get("decoded")
                ),
                "browser_pss_bytes": process_tree_pss(getattr(user, "browser_pid", None)),
                "failure": failure,
                "worker_id": record.worker_id,
                "tenant_id": getattr(user, "tenant_id", None),
                "trace_id": trace_id,
                "run_id": record.run_id,
            }
        )
        _record_assets(record, session, name, ts_us, resources)
    finish_trace(user, scope, f"{PAGE_REQUEST_TYPE} {name}{BROWSER_SUFFIX}", start_ns, failure)
    return PageLoad(name, load_ms, failure, html)


def _record_assets(
    record: BrowserRecord,
    session: BrowsingSession,
    page: str,
    ts_us: int,
    resources: list[dict[str, Any]],
) -> None:
    for resource in resources:
        path = urlsplit(str(resource.get("url") or "")).path
        if not path.startswith(STATIC_PREFIX):
            continue  # the page's own fetches (/pos/search/) are requests, not assets
        headers = session.headers.get(path, {})
        transfer = int(resource.get("transfer") or 0)
        decoded = int(resource.get("decoded") or 0)
        record.assets.add(
            {
                "ts_start_us": ts_us,
                "page": page,
                "url": path,
                "initiator": resource.get("initiator"),
                "status": int(resource.get("status") or session.statuses.get(path, 0)),
                "content_type": headers.get("content-type"),
                "content_encoding": headers.get("content-encoding"),
                "cache_control": headers.get("cache-control"),
                "transfer_bytes": transfer,
                "encoded_bytes": int(resource.get("encoded") or 0),
                "decoded_bytes": decoded,
                "from_cache": transfer == 0 and decoded > 0,
                "repeat": path in session.seen_assets,
                "worker_id": record.worker_id,
                "run_id": record.run_id,
            }
        )
        session.seen_assets.add(path)


async def timed_action(
    user: Any, session: BrowsingSession, name: str, action: Any
) -> tuple[Any, str | None]:
    """A UI action that waits for the app (e.g. checkout): one `UI` request event and trace.

    `action()` is a coroutine function returning (result, complaint or None).
    """
    scope = await traced_headers(session)
    started, start_ns, clock = time.time(), time.time_ns(), time.perf_counter()
    result: Any = None
    try:
        result, failure = await action()
    except Exception as exc:
        if stopped(user):
            return None, "stopped"
        failure = (failure_reason(exc) or type(exc).__name__).splitlines()[0][:300]
    elapsed_ms = (time.perf_counter() - clock) * 1000
    fire(user, ACTION_REQUEST_TYPE, name + BROWSER_SUFFIX, started, elapsed_ms, 0, failure, scope)
    finish_trace(user, scope, f"{ACTION_REQUEST_TYPE} {name}{BROWSER_SUFFIX}", start_ns, failure)
    return result, failure
