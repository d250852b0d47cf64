"""The dashboard (``examples/dashboard``) for benchmarks 8-10: an owner, a real uvicorn, Chromium.

The app is served by uvicorn on ``127.0.0.1`` in the bench's own event loop
(``api_server.serving``), so the bench can read its fan-out
(``app.state.services.hub``). Chromium is Debian's (``apt-get install
chromium``), driven by Playwright with ``executable_path`` and the flags of the
dashboard's browser tests (``examples/dashboard/tests/browser.py``). The owner
signs in once through the login form; every other browser context starts with
that session cookie (``storage_state``).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from fastapi import FastAPI
from fsv_dashboard import DashboardSettings, create_app
from playwright.async_api import Browser, BrowserContext, Page, StorageState, async_playwright

import firestore_verify as fv
from bench.api_server import PASSWORD, serving
from firestore_verify.testing import AuthEmulator

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
OWNER_EMAIL = "bench-owner@example.org"
SETTINGS = DashboardSettings(cookie_secure=False, log_level="WARNING")
#: Pages per browser context: Chromium keeps at most 6 HTTP/1.1 connections per host
#: in a context, and every open dashboard holds one (its event stream).
PAGES_PER_CONTEXT = 4
#: Milliseconds a page may take to show what the bench waits for.
PAGE_TIMEOUT_MS = 60_000

#: Run before the page's own scripts in every page (CDP, so the CSP does not apply):
#: when the first ``stats`` (cards) and ``activity`` (feed) SSE swaps happened.
TIMING_SCRIPT = """
window.__fsvBench = {cards: null, feed: null};
document.addEventListener("htmx:sseMessage", function (event) {
  var target = event.target, bench = window.__fsvBench;
  if (!target || !target.id) return;
  if (target.id === "cards" && bench.cards === null) bench.cards = performance.now();
  if (target.id === "feed" && bench.feed === null) bench.feed = performance.now();
});
"""
#: True once the load event has ended and the cards and the feed came over the stream.
READY = """() => {
  var nav = performance.getEntriesByType("navigation")[0];
  var bench = window.__fsvBench;
  return !!(nav && nav.loadEventEnd > 0 && bench && bench.cards !== null
            && bench.feed !== null);
}"""
#: Milliseconds since navigation start: load event end, DOMContentLoaded, first byte,
#: the cards' and the feed's first swap; and the success-rate card's text.
TIMINGS = """() => {
  var nav = performance.getEntriesByType("navigation")[0];
  var sub = document.querySelector("#card-rate .sub");
  return {load: nav.loadEventEnd, dom: nav.domContentLoadedEventEnd, ttfb: nav.responseStart,
          cards: window.__fsvBench.cards, feed: window.__fsvBench.feed,
          rate_card: sub ? sub.textContent : ""};
}"""
#: Starts timestamping (``Date.now()``, ms) every feed row that appears from now on.
WATCH_FEED = """() => {
  var seen = new Set(Array.from(document.querySelectorAll("#feed [data-event-id]"),
                                function (n) { return n.dataset.eventId; }));
  window.__fsvArrivals = {};
  new MutationObserver(function () {
    var now = Date.now();
    document.querySelectorAll("#feed [data-event-id]").forEach(function (n) {
      var id = n.dataset.eventId;
      if (!seen.has(id)) { seen.add(id); window.__fsvArrivals[id] = now; }
    });
  }).observe(document.getElementById("feed"), {childList: true, subtree: true});
}"""
ARRIVALS = "() => window.__fsvArrivals"


def chromium() -> str | None:
    """Debian's Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def add_owner(auth: AuthEmulator, store: fv.Store) -> None:
    """Sign the bench's owner up on the Auth emulator and make it an active owner."""
    uid, _ = await anyio.to_thread.run_sync(auth.sign_up, store.project, OWNER_EMAIL, PASSWORD)
    await store.admins.create(fv.AdminUser(uid=uid, email=OWNER_EMAIL, role=fv.Role.OWNER))


@dataclass
class Dashboard:
    """A served dashboard: where it answers, the app, and a signed-in owner's browser state."""

    base_url: str
    app: FastAPI
    browser: Browser
    state: StorageState

    @property
    def hub(self) -> fv.FanOut:
        """The fan-out behind the dashboard's SSE streams."""
        found: fv.FanOut = self.app.state.services.hub
        return found

    @contextlib.asynccontextmanager
    async def context(self) -> AsyncIterator[BrowserContext]:
        """A fresh browser context (empty cache) holding the owner's session cookie."""
        context = await self.browser.new_context(storage_state=self.state)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        await context.add_init_script(TIMING_SCRIPT)
        try:
            yield context
        finally:
            await context.close()

    async def open(self, context: BrowserContext) -> Page:
        """A new page on the dashboard, once loaded and fed by its stream."""
        page = await context.new_page()
        await page.goto(f"{self.base_url}/", wait_until="commit")
        await page.wait_for_function(READY, polling=10)
        return page


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium (``chromium()`` must have found it)."""
    path = chromium()
    assert path is not None
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@contextlib.asynccontextmanager
async def served(store: fv.Store, authenticator: fv.Authenticator, chromium: Browser,
                 state: StorageState | None = None) -> AsyncIterator[Dashboard]:
    """A fresh app (its own fan-out) on a real uvicorn, and the owner signed in to it.

    With ``state`` (``Dashboard.state`` of an earlier app on the same store) the owner
    is signed in already: cookies belong to a host, whatever its port.
    """
    app = create_app(SETTINGS, store=store, authenticator=authenticator)
    async with serving(app) as base_url:
        if state is not None:
            yield Dashboard(base_url, app, chromium, state)
            return
        context = await chromium.new_context()
        try:
            page = await context.new_page()
            await page.goto(f"{base_url}/login")
            await page.fill("input[name=email]", OWNER_EMAIL)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base_url}/", timeout=PAGE_TIMEOUT_MS)
            signed_in = await context.storage_state()
        finally:
            await context.close()
        yield Dashboard(base_url, app, chromium, signed_in)
