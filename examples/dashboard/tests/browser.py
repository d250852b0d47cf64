"""Browser-test helpers: a real ``fsv-dashboard`` on 127.0.0.1 and Debian's Chromium.

The server runs in a subprocess (its own event loop, its own store and
authenticator, like production) on a ``demo-`` project of the emulators,
shared by the browser tests of the session; each test uses data of its own
(unique ids and titles). Chromium is Debian's (``apt-get install chromium``),
driven by Playwright with ``executable_path``: ``playwright install`` is never
needed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import PASSWORD, World, make_world
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

import firestore_verify as fv
from firestore_verify.testing import AuthEmulator, FirestoreEmulator, add_admin

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
#: How long a test waits for a pushed change to reach the DOM (ms).
PUSH_TIMEOUT_MS = 5_000


@dataclass
class LiveServer:
    """The running dashboard and the project it serves."""

    url: str
    project: str
    firestore_host: str
    world: World
    log: Path

    @asynccontextmanager
    async def store(self) -> AsyncIterator[fv.Store]:
        """A store of the test's own on the server's project (writes "from the bot side")."""
        store = await fv.connect(project=self.project, emulator_host=self.firestore_host)
        try:
            yield store
        finally:
            await store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chromium_path() -> str:
    """Debian's Chromium, or fail/skip with how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed: apt-get install -y chromium"
        if os.environ.get("FIRESTORE_VERIFY_REQUIRE_EMULATOR", "") in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def live_server(firestore_emulator: FirestoreEmulator,
                auth_emulator: AuthEmulator) -> Iterator[LiveServer]:
    """``python -m fsv_dashboard`` on a free port, with users of every role."""
    chromium_path()
    project = f"demo-dash-{uuid.uuid4().hex[:12]}"

    async def setup() -> World:
        store = await fv.connect(project=project, emulator_host=firestore_emulator.host)
        try:
            world = await make_world(store, auth_emulator)
            await add_admin(store, auth_emulator, World.email("leaver"), PASSWORD,
                            role=fv.Role.ADMIN)
            return world
        finally:
            await store.close()

    world = asyncio.run(setup())
    port = _free_port()
    log = Path(tempfile.mkdtemp(prefix="fsv-dashboard-")) / "server.log"
    env = {**os.environ, "FIREBASE_PROJECT_ID": project,
           "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
           "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator.host,
           "FSV_DASHBOARD_HOST": "127.0.0.1", "FSV_DASHBOARD_PORT": str(port),
           "FSV_DASHBOARD_COOKIE_SECURE": "false", "FSV_DASHBOARD_LOG_LEVEL": "WARNING"}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "fsv_dashboard"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the server to start (test harness, not the app)
            if process.poll() is not None:
                pytest.fail(f"the dashboard exited with {process.returncode}:\n"
                            f"{log.read_text(errors='replace')[-3000:]}", pytrace=False)
            try:
                if httpx.get(f"{url}/login", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield LiveServer(url, project, firestore_emulator.host, world, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        firestore_emulator.wipe(project)
        auth_emulator.clear(project)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium, one per test."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(),
                                                    args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Console:
    """The errors a page logged (console errors and uncaught exceptions)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")


async def sign_in(page: Page, server: LiveServer, who: str) -> None:
    """Sign in through the login form; land on the dashboard."""
    await page.goto(f"{server.url}/login")
    await page.fill("input[name=email]", World.email(who))
    await page.fill("input[name=password]", PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")


async def wait_live(page: Page) -> None:
    """Wait until the page's event stream is open (app.js marks it)."""
    await expect(page.locator("html")).to_have_attribute("data-live", "open",
                                                         timeout=PUSH_TIMEOUT_MS)
