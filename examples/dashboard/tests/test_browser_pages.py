"""Config, Database, Admins and Audit in a real headless Chromium against a real uvicorn."""

from __future__ import annotations

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
from playwright.async_api import Browser, Dialog, Page, expect

import firestore_verify as fv

__all__ = ["browser", "live_server"]  # fixtures

pytestmark = pytest.mark.anyio

OWNER = fv.OwnerInfo(id=78, username="pages_owner")


def _unique_group_id() -> int:
    return -(10**12 + uuid.uuid4().int % 10**11)


def _unique_ttl() -> str:
    return str(100 + uuid.uuid4().int % 80_000)


async def _mark(page: Page) -> None:
    """Put a marker on the window: it survives anything but a reload."""
    await page.evaluate("window.__noReload = true")


async def _not_reloaded(page: Page) -> bool:
    return bool(await page.evaluate("window.__noReload === true"))


@pytest.mark.parametrize("path", ["/config", "/database", "/database?c=protected_groups",
                                  "/document", "/admins", "/audit", "/audit?action=group.protect"])
async def test_each_new_page_renders_without_console_errors(
    browser: Browser, live_server: LiveServer, path: str,
) -> None:
    group_id = _unique_group_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Pages check"),
                                   owner=OWNER, actor=fv.Actor(uid="render-check"))
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "owner")
    target = (f"/database/document?c=protected_groups&id={group_id}" if path == "/document"
              else path)
    await page.goto(live_server.url + target)
    if path in ("/config", "/document", "/admins"):
        await wait_live(page)
    await expect(page.locator("main h1").first).to_be_visible()
    if path == "/database":
        await expect(page.locator("#collections a", has_text="protected_groups")).to_be_visible()
    if path.startswith("/audit"):
        await expect(page.locator("#audit-table tbody tr[data-entry-id]").first).to_be_visible()
    assert console.errors == [], console.errors


async def test_a_config_change_in_a_second_browser_appears_in_the_first(
    browser: Browser, live_server: LiveServer,
) -> None:
    first = await browser.new_page()
    first_console = Console(first)
    await sign_in(first, live_server, "admin")
    await first.goto(f"{live_server.url}/config")
    await wait_live(first)
    await _mark(first)
    second = await browser.new_page()  # its own context: another admin, another browser
    second_console = Console(second)
    await sign_in(second, live_server, "owner")
    await second.goto(f"{live_server.url}/config")
    value = _unique_ttl()
    await second.fill("#cfg-cache-negative-ttl", value)
    await second.click("#save-config")
    await expect(second.locator(".banner.ok")).to_contain_text("cache.negative_ttl")
    # The first browser's form follows, pushed over its one stream, without a reload.
    await expect(first.locator("#cfg-cache-negative-ttl")).to_have_value(
        value, timeout=PUSH_TIMEOUT_MS)
    assert await _not_reloaded(first)
    await expect(first.locator("#config-stale")).to_be_hidden()
    async with live_server.store() as store:
        assert (await store.bot_config.get())["cache.negative_ttl"] == float(value)
        entries = (await store.audit.list(limit=20, resource_id="cache.negative_ttl",
                                          order_by="created_at", descending=True)).items
    assert entries[0].actor_uid == live_server.world.uids["owner"]
    assert entries[0].new_value == float(value)
    assert first_console.errors == [], first_console.errors
    assert second_console.errors == [], second_console.errors


async def test_unsaved_edits_survive_a_change_made_elsewhere(
    browser: Browser, live_server: LiveServer,
) -> None:
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(f"{live_server.url}/config")
    await wait_live(page)
    text = f"Verified {uuid.uuid4().hex[:6]}, welcome."
    await page.fill("#cfg-messages-verified-text", text)
    value = _unique_ttl()
    async with live_server.store() as store:
        await store.bot_config.update({"cache.positive_ttl": float(value)},
                                      actor=fv.Actor(uid="elsewhere"))
        await expect(page.locator("#config-stale")).to_be_visible(timeout=PUSH_TIMEOUT_MS)
        await expect(page.locator("#cfg-messages-verified-text")).to_have_value(text)
        await page.click("#save-config")
        await expect(page.locator(".banner.ok")).to_contain_text("messages.verified_text")
        values = await store.bot_config.get()
    assert values["messages.verified_text"] == text
    assert values["cache.positive_ttl"] == float(value)  # the other change was not undone
    await expect(page.locator("#cfg-cache-positive-ttl")).to_have_value(value)
    assert console.errors == [], console.errors


async def test_config_errors_show_under_their_fields(browser: Browser,
                                                     live_server: LiveServer) -> None:
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(f"{live_server.url}/config")
    async with live_server.store() as store:
        before = await store.bot_config.get()
    await page.fill("#cfg-messages-warning-template", "Join {nope} now")
    await page.fill("#cfg-cache-jitter", "2")
    await page.fill("#cfg-messages-verified-text", "Never saved")
    await page.click("#save-config")
    await expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")
    await expect(page.locator("#cfg-messages-warning-template-error")).to_contain_text("{nope}")
    await expect(page.locator("#cfg-cache-jitter-error")).to_contain_text("less than 1")
    await expect(page.locator("#cfg-messages-verified-text")).to_have_value("Never saved")
    await wait_live(page)  # the stream's first event does not wipe what was typed
    await expect(page.locator("#cfg-messages-verified-text")).to_have_value("Never saved")
    async with live_server.store() as store:
        assert await store.bot_config.get() == before
    assert [e for e in console.errors if "422" not in e] == [], console.errors


async def test_viewer_has_no_config_page(browser: Browser, live_server: LiveServer) -> None:
    page = await browser.new_page()
    await sign_in(page, live_server, "viewer")
    await expect(page.locator("header nav a", has_text="Config")).to_have_count(0)
    response = await page.goto(f"{live_server.url}/config")
    assert response is not None
    assert response.status == 403
    await expect(page.locator("h1")).to_have_text("Not allowed")


async def test_a_document_view_follows_its_document(browser: Browser,
                                                    live_server: LiveServer) -> None:
    group_id = _unique_group_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Live document"),
                                   owner=OWNER)
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(f"{live_server.url}/database?c=protected_groups")
    await page.click(f"tr[data-doc-id='{group_id}'] a")
    await wait_live(page)
    await _mark(page)
    enabled = page.locator("tr[data-field='enabled'] .fs-value")
    await expect(enabled).to_have_text("true")
    async with live_server.store() as store:
        await store.groups.unprotect(group_id)
        await expect(enabled).to_have_text("false", timeout=PUSH_TIMEOUT_MS)
    assert await _not_reloaded(page)
    assert console.errors == [], console.errors


async def test_owner_manages_admins_and_the_last_owner_is_refused(
    browser: Browser, live_server: LiveServer,
) -> None:
    page = await browser.new_page()
    console = Console(page)

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await sign_in(page, live_server, "owner")
    await page.goto(f"{live_server.url}/admins")
    await wait_live(page)
    email = f"invited-{uuid.uuid4().hex[:8]}@example.org"
    await page.fill("#invite input[name=email]", email)
    await page.select_option("#invite select[name=role]", "admin")
    await page.fill("#invite input[name=full_name]", "Invited Admin")
    await page.click("#invite-admin")
    await expect(page.locator(".banner.ok")).to_contain_text(f"{email} is now an admin")
    row = page.locator("#admin-rows tr", has_text=email)
    await expect(row).to_contain_text("active")
    await row.locator("select[name=role]").select_option("viewer")
    await row.locator("form.role-form button").click()
    await expect(page.locator(".banner.ok")).to_contain_text("now has the role viewer")
    await page.locator("#admin-rows tr", has_text=email).get_by_role(
        "button", name="Deactivate").click()
    await expect(page.locator(".banner.ok")).to_contain_text("is deactivated")
    await expect(page.locator("#admin-rows tr", has_text=email)).to_contain_text("deactivated")
    await page.locator("#admin-rows tr", has_text=email).get_by_role(
        "button", name="Delete").click()
    await expect(page.locator(".banner.ok")).to_contain_text("deleted")
    await expect(page.locator("#admin-rows tr", has_text=email)).to_have_count(0)
    # The only owner cannot lock themselves out: a clear message, nothing changes.
    me = page.locator("#admin-rows tr", has_text="owner@example.org")
    await me.get_by_role("button", name="Deactivate").click()
    await expect(page.locator("#admins-error")).to_contain_text("last active owner")
    await expect(page.locator("#admin-rows tr", has_text="owner@example.org")).to_contain_text(
        "active")
    async with live_server.store() as store:
        assert (await store.admins.get(live_server.world.uids["owner"])).is_active
    await page.goto(f"{live_server.url}/audit?action=admin.delete")
    await expect(page.locator("#audit-table tbody")).to_contain_text("owner@example.org")
    assert [e for e in console.errors if "409" not in e] == [], console.errors


async def test_audit_filters_in_the_browser(browser: Browser, live_server: LiveServer) -> None:
    group_id = _unique_group_id()
    async with live_server.store() as store:
        await store.groups.protect(group=fv.GroupInfo(id=group_id, title="Audit check"),
                                   owner=OWNER, actor=fv.Actor(uid=live_server.world.uids["admin"]))
    page = await browser.new_page()
    console = Console(page)
    await sign_in(page, live_server, "admin")
    await page.goto(f"{live_server.url}/audit")
    await page.fill("#audit-filters input[name=actor]", "admin@example.org")
    await page.fill("#audit-filters input[name=action]", "group.protect")
    await page.select_option("#audit-filters select[name=resource]", "group")
    await page.click("#audit-filters button[type=submit]")
    await expect(page.locator(f"#audit-table tr:has(code:text-is('{group_id}'))")).to_be_visible()
    actors = await page.locator("#audit-table tbody tr td:nth-child(2)").all_inner_texts()
    assert actors
    assert set(actors) == {"admin@example.org"}
    assert console.errors == [], console.errors
