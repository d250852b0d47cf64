"""In a real headless Chromium against a real uvicorn: sign-in, live pages, no polling."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from browser import (
    PUSH_TIMEOUT_MS,
    Console,
    LiveServer,
    browser,
    live_server,
    sign_in,
    wait_live,
)
from playwright.async_api import Browser, Request, expect

import firestore_verify as fv

__all__ = ["browser", "live_server"]  # fixtures

pytestmark = pytest.mark.anyio

OWNER = fv.OwnerInfo(id=77, username="demo_owner")


def _unique_group_id() -> int:
    return -(10**12 + uuid.uuid4().int % 10**11)


async def test_sign_in_and_out(browser: Browser, live_server: LiveServer) -> None:
    page = await browser.new_page()
    console = Console(page)
    await page.goto(f"{live_server.url}/")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.fill("input[name=email]", "leaver@example.org")
    await page.fill("input[name=password]", "wrong password")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("wrong email address or password")
    await sign_in(page, live_server, "leaver")
    await expect(page.locator("h1")).to_have_text("Dashboard")
    await expect(page.locator(".who")).to_contain_text("leaver@example.org")
    await page.click("#sign-out")
    await expect(page).to_have_url(re.compile(r"/login\?bye=1$"))
    await page.goto(f"{live_server.url}/groups")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    assert console.errors == [], console.errors


@pytest.mark.parametrize("path", ["/", "/groups", "/group", "/channels", "/?status=failed",
                                  "/logs", "/analytics", "/analytics?period=24h"])
async def test_each_page_renders_without_console_errors(browser: Browser,
                                                        live_server: LiveServer,
                                                        path: str) -> None:
    group_id = _unique_group_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Render check"),
                                   owner=OWNER, channels=[fv.ChannelInfo(id=group_id - 1,
                                                                         title="News")])
        await store.verifications.write_many([fv.Verification(
            user_id=5, group_id=group_id, status=fv.Status.FAILED)])
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(live_server.url + (f"/groups/{group_id}" if path == "/group" else path))
    if not path.startswith("/analytics"):  # analytics has no stream
        await wait_live(page)
    else:
        await expect(page.locator("#trend-chart")).to_have_attribute("height", re.compile("."))
    await expect(page.locator("main h1").first).to_be_visible()
    if path == "/channels":
        await expect(page.locator("#channel-rows tr[data-channel-id]").first).to_be_visible()
    for extra in ("/login", "/forgot"):
        other = await browser.new_page()
        other_console = Console(other)
        await other.goto(live_server.url + extra)
        await expect(other.locator("h1")).to_be_visible()
        assert other_console.errors == [], other_console.errors
    assert console.errors == [], console.errors


async def test_a_verification_shows_on_the_cards_and_in_the_feed(
    browser: Browser, live_server: LiveServer,
) -> None:
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "viewer")
    await wait_live(page)
    figure = page.locator("#card-today .figure")
    before = int((await figure.inner_text()).replace(",", ""))
    event = fv.Verification(user_id=123456, group_id=_unique_group_id(),
                            status=fv.Status.SUCCESS)
    async with live_server.store() as store:
        started = time.monotonic()
        await store.verifications.write_many([event])
        await expect(page.locator(f"#feed [data-event-id='{event.id}']")).to_be_visible(
            timeout=PUSH_TIMEOUT_MS)
        await expect(figure).to_have_text(f"{before + 1:,}", timeout=PUSH_TIMEOUT_MS)
        elapsed = time.monotonic() - started
    assert elapsed < PUSH_TIMEOUT_MS / 1000
    assert console.errors == [], console.errors


async def test_protecting_a_group_adds_a_row_to_an_open_groups_table(
    browser: Browser, live_server: LiveServer,
) -> None:
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "viewer")
    prefix = f"Live {uuid.uuid4().hex[:8]}"
    await page.goto(f"{live_server.url}/groups?q={prefix.replace(' ', '+')}")
    await wait_live(page)
    await expect(page.locator("#groups-empty")).to_be_visible()
    group_id = _unique_group_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title=f"{prefix} group"),
                                   owner=OWNER)
        row = page.locator(f"#group-rows tr[data-group-id='{group_id}']")
        await expect(row).to_be_visible(timeout=PUSH_TIMEOUT_MS)
        await expect(row).to_contain_text("protected")
        await store.groups.unprotect(group_id)
        await expect(row).to_contain_text("disabled", timeout=PUSH_TIMEOUT_MS)
    assert console.errors == [], console.errors


async def test_no_request_but_the_event_stream_while_data_changes(
    browser: Browser, live_server: LiveServer,
) -> None:
    page = await browser.new_page()
    await sign_in(page, live_server, "viewer")
    await wait_live(page)
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    page.on("request", record)
    feed = page.locator("#feed")
    deadline = time.monotonic() + 10  # the ten seconds of changing data
    writes = 0
    async with live_server.store() as store:
        while time.monotonic() < deadline:
            event = fv.Verification(user_id=1000 + writes, group_id=_unique_group_id(),
                                    status=fv.Status.ERROR, error_type="timeout")
            await store.verifications.write_many([event])
            await expect(feed.locator(f"[data-event-id='{event.id}']")).to_be_visible(
                timeout=PUSH_TIMEOUT_MS)
            writes += 1
    assert writes >= 3
    stream = f"{live_server.url}/stream/dashboard"
    assert [url for url in requests if url != stream] == [], requests


async def test_viewer_sees_no_edit_controls_and_a_forced_post_is_refused(
    browser: Browser, live_server: LiveServer,
) -> None:
    group_id = _unique_group_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Viewer check"),
                                   owner=OWNER)
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "viewer")
    await page.goto(f"{live_server.url}/groups?q={group_id}")
    await expect(page.locator(f"tr[data-group-id='{group_id}']")).to_be_visible()
    await expect(page.locator("#bulk-actions")).to_have_count(0)
    await expect(page.locator("#group-rows input[type=checkbox]")).to_have_count(0)
    await page.goto(f"{live_server.url}/groups/{group_id}")
    await wait_live(page)
    await expect(page.locator("#group-status")).to_have_text("protected")
    await expect(page.locator("#toggle-group")).to_have_count(0)
    await expect(page.locator("#link-channel")).to_have_count(0)
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    response = await page.request.post(f"{live_server.url}/groups/{group_id}/enabled",
                                       form={"enabled": "false", "csrf_token": token})
    assert response.status == 403
    bulk = await page.request.post(f"{live_server.url}/groups/bulk", form={
        "action": "disable", "group_id": str(group_id), "csrf_token": token})
    assert bulk.status == 403
    async with live_server.store() as store:
        assert (await store.groups.get(group_id)).enabled
    assert console.errors == [], console.errors


async def test_admin_toggles_a_group_and_the_open_page_follows(
    browser: Browser, live_server: LiveServer,
) -> None:
    group_id = _unique_group_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Toggle check"),
                                   owner=OWNER)
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(f"{live_server.url}/groups/{group_id}")
    await wait_live(page)
    await page.click("#toggle-group")
    await expect(page.locator(".banner.ok")).to_have_text("Protection disabled.")
    await expect(page.locator("#group-status")).to_have_text("disabled")
    async with live_server.store() as store:
        await store.groups.enable(group_id)  # another admin, elsewhere
        await expect(page.locator("#group-status")).to_have_text("protected",
                                                                 timeout=PUSH_TIMEOUT_MS)
        entries = (await store.audit.list(limit=100)).items
    assert any(e.resource_id == str(group_id) and e.actor_uid == live_server.world.uids["admin"]
               for e in entries)
    assert console.errors == [], console.errors
