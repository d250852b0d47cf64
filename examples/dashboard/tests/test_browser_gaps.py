"""Channels (add, detail), group params and the live Logs in a real headless Chromium."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

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
from playwright.async_api import Browser, Page, expect

import firestore_verify as fv

__all__ = ["browser", "live_server"]  # fixtures

pytestmark = pytest.mark.anyio

OWNER = fv.OwnerInfo(id=79, username="gaps_owner")


def _unique_id() -> int:
    return -(10**12 + uuid.uuid4().int % 10**11)


async def _mark(page: Page) -> None:
    await page.evaluate("window.__noReload = true")


async def _not_reloaded(page: Page) -> bool:
    return bool(await page.evaluate("window.__noReload === true"))


@pytest.mark.parametrize("path", ["/channels", "/channel", "/group", "/logs", "/logs?since"])
async def test_the_new_pages_render_without_console_errors(
    browser: Browser, live_server: LiveServer, path: str,
) -> None:
    group_id = _unique_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Gaps check"),
                                   owner=OWNER, channels=[fv.ChannelInfo(id=group_id - 1,
                                                                         title="Gaps news")],
                                   actor=fv.Actor(uid="render-check"))
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    target = {"/channel": f"/channels/{group_id - 1}", "/group": f"/groups/{group_id}",
              "/logs?since": f"/logs?since={since}"}.get(path, path)
    await page.goto(live_server.url + target)
    await wait_live(page)
    await expect(page.locator("main h1").first).to_be_visible()
    if path == "/channel":
        await expect(page.locator(f"#linked-groups [data-group-id='{group_id}'] a")
                     ).to_be_visible(timeout=PUSH_TIMEOUT_MS)
    if path == "/group":
        await expect(page.locator("#params-form")).to_be_visible()
    if path.startswith("/logs"):
        await expect(page.locator("#log-audit")).to_be_visible()
    assert console.errors == [], console.errors


async def test_a_channel_added_through_the_form_appears(browser: Browser,
                                                        live_server: LiveServer) -> None:
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(f"{live_server.url}/channels")
    await wait_live(page)
    channel_id = _unique_id()
    title = f"Added {uuid.uuid4().hex[:8]}"
    form = page.locator("#add-channel-form")
    await form.locator("input[name=channel_id]").fill(str(-channel_id))  # positive: refused
    await form.locator("input[name=title]").fill(title)
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(page.locator("#channel-error")).to_contain_text("negative whole number")
    await page.locator("#add-channel-form input[name=channel_id]").fill(str(channel_id))
    async with page.expect_navigation():
        await page.locator("#add-channel-form button[type=submit]").click()
    await expect(page.locator("main .banner.ok")).to_contain_text(f"Channel {title} added.")
    row = page.locator(f"#channel-rows tr[data-channel-id='{channel_id}']")
    await expect(row).to_be_visible(timeout=PUSH_TIMEOUT_MS)
    async with page.expect_navigation():
        await row.locator("a", has_text=title).click()
    await expect(page.locator("#channel-title")).to_have_text(title)
    await expect(page.locator("#no-linked-groups")).to_be_visible()
    await wait_live(page)
    await _mark(page)
    group_id = _unique_id()
    async with live_server.store() as store:  # linked elsewhere: the detail page follows
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Linker"),
                                   owner=OWNER, channels=[fv.ChannelInfo(id=channel_id,
                                                                         title=title)])
        await store.verifications.write_many([fv.Verification(
            user_id=5, group_id=group_id, channel_id=channel_id, status=fv.Status.SUCCESS)])
    await expect(page.locator(f"#linked-groups [data-group-id='{group_id}']")).to_be_visible(
        timeout=PUSH_TIMEOUT_MS)
    await expect(page.locator("#channel-total")).to_have_text("1", timeout=PUSH_TIMEOUT_MS)
    assert await _not_reloaded(page)
    assert [e for e in console.errors if "422" not in e] == [], console.errors  # the refusal


async def test_a_params_save_shows_the_new_value(browser: Browser,
                                                 live_server: LiveServer) -> None:
    group_id = _unique_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Params"),
                                   owner=OWNER)
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(f"{live_server.url}/groups/{group_id}")
    await wait_live(page)
    await expect(page.locator("#param-mute")).to_have_text("on")
    template = f"{{user}}, join {{channels}} ({uuid.uuid4().hex[:6]})"
    await page.locator("#params-form textarea[name=warning_template]").fill("Hi {who}")
    async with page.expect_navigation():
        await page.locator("#params-form button[type=submit]").click()
    await expect(page.locator("#params-error")).to_contain_text("Unknown placeholder")
    await page.locator("#params-form textarea[name=warning_template]").fill(template)
    await page.locator("#params-form input[name=mute]").uncheck()
    async with page.expect_navigation():
        await page.locator("#params-form button[type=submit]").click()
    await expect(page.locator("main .banner.ok")).to_contain_text("Params saved.")
    await expect(page.locator("#param-mute")).to_have_text("off")
    await expect(page.locator("#param-warning")).to_have_text(template)
    await expect(page.locator("#params-form input[name=mute]")).not_to_be_checked()
    async with live_server.store() as store:
        assert (await store.groups.get(group_id)).params == {"warning_template": template,
                                                             "mute": False}
    assert [e for e in console.errors if "422" not in e] == [], console.errors  # the refusal


async def test_events_and_admin_actions_appear_live_on_the_logs_page(
    browser: Browser, live_server: LiveServer,
) -> None:
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    since = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    await page.goto(f"{live_server.url}/logs?since={since}")
    await wait_live(page)
    await _mark(page)
    group_id = _unique_id()
    event = fv.Verification(user_id=654321, group_id=group_id, status=fv.Status.FAILED)
    old = fv.Verification(user_id=654322, group_id=group_id, status=fv.Status.FAILED,
                          occurred_at=datetime.now(timezone.utc) - timedelta(hours=2))
    async with live_server.store() as store:
        started = time.monotonic()
        await store.verifications.write_many([event, old])
        await expect(page.locator(f"#log-feed [data-event-id='{event.id}']")).to_be_visible(
            timeout=PUSH_TIMEOUT_MS)
        elapsed = time.monotonic() - started
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Audited"),
                                   owner=OWNER, actor=fv.Actor(uid="logs-live-check"))
        await expect(page.locator("#log-audit tbody tr", has_text="logs-live-check").first
                     ).to_be_visible(timeout=PUSH_TIMEOUT_MS)
    assert elapsed < PUSH_TIMEOUT_MS / 1000
    await expect(page.locator(f"#log-feed [data-event-id='{old.id}']")).to_have_count(0)
    assert await _not_reloaded(page)
    assert console.errors == [], console.errors
