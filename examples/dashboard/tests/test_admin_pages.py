"""Config, Database, Admins and Audit over ASGI: permissions per role, validation, audit."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from typing import Any

import httpx
import pytest
from conftest import PASSWORD, World, csrf_of, sign_in

import firestore_verify as fv

pytestmark = pytest.mark.anyio

GROUP = -1001
OWNER = fv.OwnerInfo(id=42, username="ada_owner")
AGENT = {"User-Agent": "pytest-admin-pages"}


def form_of(html: str, form_id: str = "config-form") -> dict[str, str]:
    """The named fields of a form as the browser would post them untouched."""
    start = html.index(f'id="{form_id}"')
    body = html[start:html.index("</form>", start)]
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input\b[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag)
        if name and "disabled" not in tag:
            value = re.search(r'value="([^"]*)"', tag)
            fields[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', body,
                                 re.S):
        fields[unescape(name)] = unescape(text)
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body,
                                    re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        fields[unescape(name)] = unescape(chosen.group(1)) if chosen else ""
    return fields


async def audit_entries(store: fv.Store, **where: Any) -> list[fv.AuditEntry]:
    """Every audit entry matching ``where``."""
    return [e async for e in store.audit.iterate(**where)]


# -- permissions ------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "allowed"), [
    ("viewer", set()),
    ("admin", {"/config", "/database", "/audit"}),
    ("owner", {"/config", "/database", "/audit", "/admins"}),
])
async def test_each_role_sees_only_its_pages(dashboard: httpx.AsyncClient, world: World,
                                             who: str, allowed: set[str]) -> None:
    await sign_in(dashboard, who)
    home = (await dashboard.get("/")).text
    pages = {"/config": "/stream/config", "/database": None, "/audit": None,
             "/admins": "/stream/admins"}
    for path, stream in pages.items():
        assert (f'href="{path}"' in home) == (path in allowed), (who, path)
        response = await dashboard.get(path)
        assert response.status_code == (200 if path in allowed else 403), (who, path)
        if stream and path not in allowed:
            assert (await dashboard.get(stream)).status_code == 403
    document = await dashboard.get("/database/document?c=admin_users&id=x")
    assert document.status_code == (200 if "/database" in allowed else 403)
    token = csrf_of(home)
    posts = [("/config", {"cache.negative_ttl": "5"}),
             ("/admins", {"email": "new@example.org", "role": "owner"}),
             (f"/admins/{world.uids['owner']}/deactivate", {}),
             (f"/admins/{world.uids['owner']}/activate", {}),
             (f"/admins/{world.uids['owner']}/role", {"role": "viewer"}),
             (f"/admins/{world.uids['owner']}/delete", {})]
    for path, data in posts:
        if "/" + path.split("/")[1] in allowed:
            continue  # what an allowed post does is tested below
        forced = await dashboard.post(path, data={**data, "csrf_token": token})
        assert forced.status_code == 403, (who, path)


async def test_forced_posts_change_nothing(dashboard: httpx.AsyncClient, world: World,
                                           admin_store: fv.Store) -> None:
    await sign_in(dashboard, "viewer")
    token = csrf_of((await dashboard.get("/")).text)
    assert (await dashboard.post("/config", data={"cache.negative_ttl": "5",
                                                  "csrf_token": token})).status_code == 403
    dashboard.cookies.delete("fsv_dash_session")
    await sign_in(dashboard, "admin")
    token = csrf_of((await dashboard.get("/")).text)
    for path in ("/admins", f"/admins/{world.uids['owner']}/role"):
        response = await dashboard.post(path, data={"email": "x@example.org", "role": "viewer",
                                                    "csrf_token": token})
        assert response.status_code == 403
    assert (await admin_store.bot_config.get())["cache.negative_ttl"] == 60.0
    assert (await admin_store.admins.get(world.uids["owner"])).role == fv.Role.OWNER
    assert await audit_entries(admin_store) == []


# -- config -----------------------------------------------------------------------------

async def test_config_form_is_the_schema_with_secrets_masked(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    await admin_store.bot_config.update({"webhook.secret": "s3cret-token"},
                                        actor=fv.Actor(uid="setup"))
    await sign_in(dashboard, "admin")
    page = (await dashboard.get("/config")).text
    schema = admin_store.bot_config.schema()
    for field in schema.settings:
        assert f'name="{field.key}"' in page, field.key
        assert unescape(field.description) in unescape(page)
    assert "s3cret-token" not in page
    fields = form_of(page)
    assert fields["webhook.secret"] == schema.mask
    assert fields["cache.positive_ttl"] == "600"
    assert fields["cache.max_entries"] == "100000"
    assert "Allowed: ≥ 0; &lt; 1 · Default: <code>0.15</code>" in page  # cache.jitter
    assert "Allowed: &gt; 0; ≤ 1000; empty: unset · Default: unset" in page
    assert "Allowed: ≥ 1; whole number · Default: <code>100000</code>" in page
    assert 'id="save-config"' in page
    assert 'type="password"' in page


async def test_saving_sends_only_what_changed_audited_with_the_actor(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    await admin_store.bot_config.update({"webhook.secret": "keep-me"},
                                        actor=fv.Actor(uid="setup"))
    await sign_in(dashboard, "admin")
    fields = form_of((await dashboard.get("/config")).text)
    # Meanwhile another admin changes the jitter: this form must not put it back.
    await admin_store.bot_config.update({"cache.jitter": 0.3}, actor=fv.Actor(uid="other"))
    fields.update({"cache.negative_ttl": "42", "logging.level": "DEBUG",
                   "messages.verified_text": "Welcome in!\r\nEnjoy."})
    saved = await dashboard.post("/config", data=fields, headers=AGENT)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].startswith("/config?notice=Saved+3+setting")
    values = await admin_store.bot_config.get(masked=False)
    assert values["cache.negative_ttl"] == 42.0
    assert values["logging.level"] == "DEBUG"
    assert values["messages.verified_text"] == "Welcome in!\nEnjoy."
    assert values["cache.jitter"] == 0.3
    assert values["webhook.secret"] == "keep-me"  # the mask sent back keeps it
    entries = await audit_entries(admin_store, actor_uid=world.uids["admin"])
    assert sorted(e.resource_id or "" for e in entries) == [
        "cache.negative_ttl", "logging.level", "messages.verified_text"]
    assert {e.action for e in entries} == {"config.set"}
    assert {e.user_agent for e in entries} == {"pytest-admin-pages"}
    follow = await dashboard.get(saved.headers["location"])
    assert "Saved 3 setting(s)" in follow.text
    again = await dashboard.post("/config", data=form_of(follow.text))
    assert again.headers["location"].endswith("notice=Nothing+changed.")


async def test_secrets_can_be_set_and_unset(dashboard: httpx.AsyncClient, world: World,
                                            admin_store: fv.Store) -> None:
    await sign_in(dashboard, "admin")
    fields = form_of((await dashboard.get("/config")).text)
    assert fields["webhook.secret"] == ""
    saved = await dashboard.post("/config", data={**fields, "webhook.secret": "tok_1"})
    assert saved.status_code == 303
    assert (await admin_store.bot_config.get(masked=False))["webhook.secret"] == "tok_1"
    entry = (await audit_entries(admin_store, resource_id="webhook.secret"))[0]
    assert entry.new_value == fv.MASK
    fields = form_of((await dashboard.get("/config")).text)
    await dashboard.post("/config", data={**fields, "webhook.secret": ""})
    assert (await admin_store.bot_config.get(masked=False))["webhook.secret"] is None


async def test_validation_errors_show_per_field_and_nothing_is_saved(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    await sign_in(dashboard, "admin")
    fields = form_of((await dashboard.get("/config")).text)
    fields.update({"cache.negative_ttl": "-1", "messages.warning_template": "Join {nope}",
                   "cache.max_entries": "2.5", "messages.verified_text": "fine text",
                   "webhook.secret": "has spaces", "rate_limits.moderation_per_second": "0"})
    response = await dashboard.post("/config", data=fields)
    assert response.status_code == 422
    page = unescape(response.text)
    assert "Nothing was saved" in page
    errors = dict(re.findall(r'id="cfg-([a-z-]+)-error" role="alert">([^<]+)<', page))
    assert set(errors) == {"cache-negative-ttl", "messages-warning-template",
                           "cache-max-entries", "webhook-secret",
                           "rate-limits-moderation-per-second"}
    assert "greater than or equal to 0" in errors["cache-negative-ttl"]
    assert "{nope}" in errors["messages-warning-template"]
    assert "valid integer" in errors["cache-max-entries"]
    assert "has spaces" not in page or 'value="has spaces"' in page
    kept = form_of(response.text)
    assert kept["messages.verified_text"] == "fine text"  # what was typed stays
    assert kept["cache.negative_ttl"] == "-1"
    assert 'data-dirty="true"' in response.text  # live updates do not wipe the edits
    assert await admin_store.config.get_many(["messages.verified_text"]) == {}
    assert await audit_entries(admin_store) == []
    # Correcting the form from the error page saves it.
    kept.update({"cache.negative_ttl": "5", "messages.warning_template": "Join {channels}",
                 "cache.max_entries": "10", "webhook.secret": "",
                 "rate_limits.moderation_per_second": "2.5"})
    fixed = await dashboard.post("/config", data=kept)
    assert fixed.status_code == 303, fixed.text
    values = await admin_store.bot_config.get()
    assert values["messages.verified_text"] == "fine text"
    assert values["rate_limits.moderation_per_second"] == 2.5
    assert values["cache.max_entries"] == 10


# -- database ---------------------------------------------------------------------------

async def test_database_browses_collections_pages_and_typed_fields(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    for i in range(7):
        await admin_store.groups.protect(
            group=fv.GroupInfo(id=GROUP - i, title=f"Group {i}", member_count=10 + i),
            owner=OWNER, channels=[fv.ChannelInfo(id=-5000, title="News")])
    await admin_store.bot_config.update({"webhook.secret": "hidden-value"},
                                        actor=fv.Actor(uid="setup"))
    await sign_in(dashboard, "admin")
    home = (await dashboard.get("/database")).text
    assert re.findall(r'<li><a href="/database\?c=([a-z_]+)"', home)[:4] == [
        "owners", "protected_groups", "enforced_channels", "admin_users"]
    first = (await dashboard.get("/database?c=protected_groups")).text
    ids = re.findall(r'<tr data-doc-id="([^"]+)"', first)
    assert len(ids) == 5  # page_size
    assert '<code>enforced_channels</code> <span class="fs-type">array</span> [1 item]' in first
    cursor = unescape(re.search(r'href="(/database\?c=protected_groups&amp;cursor=[^"]+)"',
                                first).group(1))  # type: ignore[union-attr]
    second = (await dashboard.get(cursor)).text
    more = re.findall(r'<tr data-doc-id="([^"]+)"', second)
    assert len(more) == 2
    assert not set(more) & set(ids)
    assert 'id="next-page"' not in second
    doc = (await dashboard.get(f"/database/document?c=protected_groups&id={GROUP}")).text
    rows = dict(re.findall(r'<tr data-field="([^"]+)"><td><code>[^<]+</code></td><td>'
                           r'<span class="fs-type">([a-z]+)</span>', doc))
    assert rows["title"] == "string"
    assert rows["enabled"] == "boolean"
    assert rows["member_count"] == "integer"
    assert rows["enforced_channels"] == "array"
    assert rows["created_at"] == "timestamp"
    assert 'sse-connect="/stream/database/document?c=protected_groups&amp;id=-1001"' in doc
    secret = (await dashboard.get("/database/document?c=admin_config&id=webhook.secret")).text
    assert "hidden-value" not in secret
    assert fv.MASK in secret
    assert ">masked<" in secret
    stats = (await dashboard.get("/database/document?c=_metadata&id=stats")).text
    assert "Subcollections" in stats or 'data-field="total_groups"' in stats
    missing = await dashboard.get("/database/document?c=protected_groups&id=-42")
    assert missing.status_code == 200
    assert 'id="doc-missing"' in missing.text
    assert (await dashboard.get("/database?c=not_ours")).status_code == 404
    assert (await dashboard.get("/database/document?c=not_ours&id=x")).status_code == 404
    assert (await dashboard.get("/stream/database/document?c=not_ours&id=x")).status_code == 404
    bad = await dashboard.get("/database?c=protected_groups&cursor=garbage")
    assert bad.status_code == 422
    assert "Retry" in bad.text


async def test_database_of_an_empty_store_says_so(dashboard: httpx.AsyncClient,
                                                  world: World) -> None:
    await sign_in(dashboard, "admin")
    page = await dashboard.get("/database?c=verifications")
    assert page.status_code == 200
    assert 'id="documents-empty"' in page.text


# -- admins -----------------------------------------------------------------------------

async def test_owner_invites_changes_deactivates_and_deletes_admins(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    await sign_in(dashboard, "owner")
    page = (await dashboard.get("/admins")).text
    for who in ("owner", "admin", "viewer", "inactive"):
        assert World.email(who) in page
    token = csrf_of(page)
    invited = await dashboard.post("/admins", headers=AGENT, data={
        "email": "new.admin@example.org", "role": "admin", "full_name": "New Admin",
        "password": PASSWORD, "csrf_token": token})
    assert invited.status_code == 303, invited.text
    assert "new.admin%40example.org+is+now+an+admin" in invited.headers["location"]
    new = (await admin_store.admins.list(email="new.admin@example.org")).items[0]
    assert (new.role, new.full_name, new.is_active) == (fv.Role.ADMIN, "New Admin", True)
    again = await dashboard.post("/admins", data={
        "email": "new.admin@example.org", "role": "viewer", "csrf_token": token})
    assert again.status_code == 409
    assert "already" in again.text
    assert 'id="admins-error"' in again.text
    bad_role = await dashboard.post("/admins", data={
        "email": "x@example.org", "role": "superuser", "csrf_token": token})
    assert bad_role.status_code == 422
    assert "unknown role" in unescape(bad_role.text)
    for path, data in ((f"/admins/{new.uid}/role", {"role": "viewer"}),
                       (f"/admins/{new.uid}/deactivate", {}),
                       (f"/admins/{new.uid}/activate", {}),
                       (f"/admins/{new.uid}/delete", {})):
        response = await dashboard.post(path, data={**data, "csrf_token": token},
                                        headers=AGENT)
        assert response.status_code == 303, (path, response.text)
        if path.endswith("/role"):
            assert (await admin_store.admins.get(new.uid)).role == fv.Role.VIEWER
        if path.endswith("/deactivate"):
            assert not (await admin_store.admins.get(new.uid)).is_active
    assert not await admin_store.admins.exists(new.uid)
    entries = await audit_entries(admin_store, actor_uid=world.uids["owner"])
    assert sorted(e.action for e in entries) == sorted([
        "admin.create", "admin.set_role", "admin.deactivate", "admin.activate",
        "admin.delete"])
    assert {e.resource_id for e in entries} == {new.uid}
    assert {e.user_agent for e in entries} == {"pytest-admin-pages"}
    missing = await dashboard.post("/admins/nobody/delete", data={"csrf_token": token})
    assert missing.status_code == 404


async def test_an_invited_admin_signs_in_with_their_role(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    await sign_in(dashboard, "owner")
    token = csrf_of((await dashboard.get("/admins")).text)
    await dashboard.post("/admins", data={"email": World.email("fresh"), "role": "viewer",
                                          "password": PASSWORD, "csrf_token": token})
    dashboard.cookies.clear()
    assert (await sign_in(dashboard, "fresh")).status_code == 303
    home = (await dashboard.get("/")).text
    assert "fresh@example.org" in home
    assert 'href="/admins"' not in home


@pytest.mark.parametrize("verb", ["role", "deactivate", "delete"])
async def test_the_last_owner_is_refused_with_a_clear_message(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store, verb: str,
) -> None:
    await sign_in(dashboard, "owner")
    token = csrf_of((await dashboard.get("/admins")).text)
    uid = world.uids["owner"]
    response = await dashboard.post(f"/admins/{uid}/{verb}",
                                    data={"role": "admin", "csrf_token": token})
    assert response.status_code == 409
    message = re.search(r'id="admins-error">([^<]+)<', response.text)
    assert message
    assert "last active owner" in message.group(1)
    owner = await admin_store.admins.get(uid)
    assert (owner.role, owner.is_active) == (fv.Role.OWNER, True)
    assert await audit_entries(admin_store) == []


# -- audit ------------------------------------------------------------------------------

async def test_audit_filters_by_actor_action_resource_and_time_with_pages(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    admin = fv.Actor(uid=world.uids["admin"], ip_address="10.0.0.7")
    owner = fv.Actor(uid=world.uids["owner"])
    for i in range(6):
        await admin_store.groups.protect(group=fv.GroupInfo(id=GROUP - i, title=f"G{i}"),
                                         owner=OWNER, actor=admin)
    await admin_store.bot_config.update({"cache.negative_ttl": 30}, actor=owner)
    await admin_store.groups.unprotect(GROUP, actor=owner)
    await sign_in(dashboard, "admin")

    def rows(html: str) -> list[str]:
        return re.findall(r'<tr data-entry-id="([^"]+)"', html)

    first = (await dashboard.get("/audit")).text
    assert len(rows(first)) == 5  # page_size, newest first
    table = first[first.index('id="audit-table"'):]
    assert re.findall(r"<td><code>([a-z_.]+)</code></td>", table) == [
        "group.disable", "config.set", "group.protect", "group.protect", "group.protect"]
    assert "10.0.0.7" in first
    assert World.email("owner") in first
    cursor = unescape(re.search(r'href="(/audit\?cursor=[^"]+)" id="next-page"',
                                first).group(1))  # type: ignore[union-attr]
    second = (await dashboard.get(cursor)).text
    assert len(rows(second)) == 3
    assert not set(rows(second)) & set(rows(first))
    by_email = (await dashboard.get(f"/audit?actor={World.email('owner')}")).text
    assert len(rows(by_email)) == 2
    by_uid = (await dashboard.get(f"/audit?actor={world.uids['admin']}")).text
    assert len(rows(by_uid)) == 5
    assert 'id="next-page"' in by_uid
    by_action = (await dashboard.get("/audit?action=config.set")).text
    assert len(rows(by_action)) == 1
    assert "cache.negative_ttl" in by_action
    by_resource = (await dashboard.get("/audit?resource=group&actor="
                                       + World.email("owner"))).text
    assert len(rows(by_resource)) == 1
    assert "group.disable" in by_resource
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    earlier = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert rows((await dashboard.get(f"/audit?since={later}")).text) == []
    window = (await dashboard.get(f"/audit?since={earlier}&until={later}&action=group.protect"))
    assert len(rows(window.text)) == 5
    assert rows((await dashboard.get(f"/audit?until={earlier}")).text) == []
    nobody = (await dashboard.get("/audit?actor=nobody@example.org")).text
    assert 'id="unknown-actor"' in nobody
    assert rows(nobody) == []
    bad = await dashboard.get("/audit?since=yesterday")
    assert bad.status_code == 422
    assert "not a date" in unescape(bad.text)


async def test_audit_of_an_empty_trail_says_so(dashboard: httpx.AsyncClient,
                                               world: World) -> None:
    await sign_in(dashboard, "admin")
    page = await dashboard.get("/audit")
    assert 'id="audit-empty"' in page.text
    assert "No admin action yet" in page.text
