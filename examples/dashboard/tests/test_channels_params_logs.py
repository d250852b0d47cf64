"""Channels (add, detail, edit), group params and the Logs time filter, over ASGI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from conftest import World, csrf_of, sign_in

import firestore_verify as fv

pytestmark = pytest.mark.anyio

GROUP = -1001
CHANNEL = -1001000
OWNER = fv.OwnerInfo(id=42, username="ada_owner")
AGENT = {"User-Agent": "pytest-gaps"}


async def protect(store: fv.Store) -> None:
    """A protected group with one channel, through the library."""
    await store.groups.protect(group=fv.GroupInfo(id=GROUP, title="Alpha"), owner=OWNER,
                               channels=[fv.ChannelInfo(id=CHANNEL, title="Alpha news")])


async def entries(store: fv.Store, action: str) -> list[fv.AuditEntry]:
    """The audit entries of one action."""
    return [e async for e in store.audit.iterate(action=action)]


# -- channels ---------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "writes"), [("viewer", False), ("admin", True),
                                             ("owner", True)])
async def test_add_channel_per_role(dashboard: httpx.AsyncClient, world: World,
                                    admin_store: fv.Store, who: str, writes: bool) -> None:
    await sign_in(dashboard, who)
    page = await dashboard.get("/channels")
    assert page.status_code == 200
    assert ('id="add-channel-form"' in page.text) == writes
    response = await dashboard.post("/channels", headers=AGENT, data={
        "channel_id": "-100777", "title": "Seventh", "username": "@seventh",
        "csrf_token": csrf_of(page.text)})
    if not writes:
        assert response.status_code == 403
        assert await admin_store.channels.find(-100777) is None
        assert await entries(admin_store, "channel.create") == []
        return
    assert response.status_code == 303
    assert response.headers["location"].startswith("/channels?notice=Channel+Seventh+added")
    channel = await admin_store.channels.get(-100777)
    assert (channel.title, channel.username, channel.linked_groups) == ("Seventh", "seventh", [])
    [entry] = await entries(admin_store, "channel.create")
    assert entry.actor_uid == world.uids[who]
    assert entry.resource_id == "-100777"
    assert entry.user_agent == "pytest-gaps"


@pytest.mark.parametrize("bad", ["100777", "0", "abc", "-", "-1.5", ""])
async def test_add_channel_refuses_a_non_negative_id_clearly(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store, bad: str,
) -> None:
    await sign_in(dashboard, "admin")
    token = csrf_of((await dashboard.get("/channels")).text)
    response = await dashboard.post("/channels", data={"channel_id": bad, "title": "Bad",
                                                       "csrf_token": token})
    assert response.status_code == 422
    assert "A Telegram channel id is a negative whole number" in response.text
    assert 'value="Bad"' in response.text  # the form keeps what was typed
    assert (await admin_store.channels.list()).items == []
    assert (await admin_store.audit.list()).items == []


async def test_add_channel_twice_says_it_exists(dashboard: httpx.AsyncClient, world: World,
                                                admin_store: fv.Store) -> None:
    await protect(admin_store)
    await sign_in(dashboard, "admin")
    token = csrf_of((await dashboard.get("/channels")).text)
    response = await dashboard.post("/channels", data={"channel_id": str(CHANNEL),
                                                       "title": "Again", "csrf_token": token})
    assert response.status_code == 422
    assert f"Channel {CHANNEL} is already enforced." in response.text
    assert (await admin_store.channels.get(CHANNEL)).title == "Alpha news"


async def test_channel_detail_shows_groups_and_todays_checks(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store,
) -> None:
    await protect(admin_store)
    await admin_store.verifications.write_many([
        fv.Verification(user_id=7, group_id=GROUP, channel_id=CHANNEL,
                        status=fv.Status.SUCCESS),
        fv.Verification(user_id=8, group_id=GROUP, channel_id=CHANNEL,
                        status=fv.Status.FAILED),
        fv.Verification(user_id=9, group_id=GROUP, channel_id=-5, status=fv.Status.FAILED),
    ])
    await sign_in(dashboard, "viewer")
    page = await dashboard.get(f"/channels/{CHANNEL}")
    assert page.status_code == 200
    assert f'href="/groups/{GROUP}"' in page.text
    assert 'id="channel-total">2<' in page.text
    assert f'sse-connect="/stream/channel/{CHANNEL}"' in page.text
    assert 'id="edit-channel-form"' not in page.text
    assert (await dashboard.get("/channels/-424242")).status_code == 404
    assert (await dashboard.get("/channels/5")).status_code == 422
    forced = await dashboard.post(f"/channels/{CHANNEL}", data={
        "title": "Hijacked", "csrf_token": csrf_of(page.text)})
    assert forced.status_code == 403
    assert (await admin_store.channels.get(CHANNEL)).title == "Alpha news"


async def test_channel_edit_reaches_the_groups_audited(dashboard: httpx.AsyncClient,
                                                       world: World,
                                                       admin_store: fv.Store) -> None:
    await protect(admin_store)
    await sign_in(dashboard, "admin")
    page = await dashboard.get(f"/channels/{CHANNEL}")
    assert 'id="edit-channel-form"' in page.text
    saved = await dashboard.post(f"/channels/{CHANNEL}", data={
        "title": "Alpha daily", "username": "@alpha_daily",
        "invite_link": "https://t.me/+abcdef", "csrf_token": csrf_of(page.text)})
    assert saved.status_code == 303
    channel = await admin_store.channels.get(CHANNEL)
    assert (channel.title, channel.username) == ("Alpha daily", "alpha_daily")
    group = await admin_store.groups.get(GROUP)
    assert group.enforced_channels[0].title == "Alpha daily"
    [entry] = await entries(admin_store, "channel.update")
    assert entry.actor_uid == world.uids["admin"]


# -- group params -----------------------------------------------------------------------

async def test_group_params_save_validated_and_audited(dashboard: httpx.AsyncClient,
                                                       world: World,
                                                       admin_store: fv.Store) -> None:
    await protect(admin_store)
    await admin_store.groups.update(GROUP, params={"other_tool": 1})
    await sign_in(dashboard, "admin")
    page = await dashboard.get(f"/groups/{GROUP}")
    assert 'id="params-form"' in page.text
    assert 'name="mute" value="true" checked' in page.text
    token = csrf_of(page.text)
    saved = await dashboard.post(f"/groups/{GROUP}/params", headers=AGENT, data={
        "warning_template": "{user}: join {channels} to talk in {group}.",
        "csrf_token": token})  # mute unticked
    assert saved.status_code == 303
    group = await admin_store.groups.get(GROUP)
    assert group.params == {"other_tool": 1, "mute": False,
                            "warning_template": "{user}: join {channels} to talk in {group}."}
    [entry] = await entries(admin_store, "group.update")
    assert entry.actor_uid == world.uids["admin"]
    assert entry.user_agent == "pytest-gaps"
    shown = (await dashboard.get(f"/groups/{GROUP}")).text
    assert '<span id="param-mute">off</span>' in shown
    # A blank template removes the group's own warning (the config's applies).
    await dashboard.post(f"/groups/{GROUP}/params", data={"warning_template": " ",
                                                          "mute": "true", "csrf_token": token})
    assert (await admin_store.groups.get(GROUP)).params == {"other_tool": 1, "mute": True}


@pytest.mark.parametrize(("template", "message"), [
    ("Hello {name}", "Unknown placeholder(s) {name}"),
    ("x" * 1001, "at most 1000"),
])
async def test_bad_params_are_shown_and_nothing_is_saved(
    dashboard: httpx.AsyncClient, world: World, admin_store: fv.Store, template: str,
    message: str,
) -> None:
    await protect(admin_store)
    await sign_in(dashboard, "admin")
    token = csrf_of((await dashboard.get(f"/groups/{GROUP}")).text)
    response = await dashboard.post(f"/groups/{GROUP}/params", data={
        "warning_template": template, "csrf_token": token})
    assert response.status_code == 422
    assert 'id="params-error"' in response.text
    assert message in response.text
    assert (await admin_store.groups.get(GROUP)).params == {}
    assert await entries(admin_store, "group.update") == []


async def test_viewer_cannot_edit_params(dashboard: httpx.AsyncClient, world: World,
                                         admin_store: fv.Store) -> None:
    await protect(admin_store)
    await sign_in(dashboard, "viewer")
    page = await dashboard.get(f"/groups/{GROUP}")
    assert 'id="params-form"' not in page.text
    forced = await dashboard.post(f"/groups/{GROUP}/params", data={
        "warning_template": "{user}", "csrf_token": csrf_of(page.text)})
    assert forced.status_code == 403
    assert (await admin_store.groups.get(GROUP)).params == {}


# -- logs -------------------------------------------------------------------------------

async def test_logs_time_filter(dashboard: httpx.AsyncClient, world: World,
                                admin_store: fv.Store) -> None:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    await admin_store.verifications.write_many([
        fv.Verification(user_id=1, group_id=GROUP, status=fv.Status.SUCCESS,
                        occurred_at=now - timedelta(hours=3)),
        fv.Verification(user_id=2, group_id=GROUP, status=fv.Status.FAILED,
                        occurred_at=now - timedelta(hours=1)),
    ])
    await sign_in(dashboard, "admin")
    since = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page = await dashboard.get(f"/logs?since={since}")
    assert page.text.count('class="event s-') == 1
    assert 'class="event s-failed"' in page.text
    assert f'value="{since}"' in page.text
    assert "since=" in page.text.split('sse-connect="')[1].split('"')[0]
    until = await dashboard.get(f"/logs?until={since}&status=success")
    assert until.text.count('class="event s-success"') == 1
    assert 'class="event s-failed"' not in until.text
    exported = await dashboard.get(f"/logs/export.json?since={since}")
    assert [e["user_id"] for e in exported.json()] == [2]
    both = await dashboard.get(f"/logs?since={since}&until={since}")
    assert 'id="filter-error"' in both.text
    assert both.text.count('class="event s-') == 2  # the filter is not applied
    bad = await dashboard.get("/logs?since=yesterday")
    assert "YYYY-MM-DD HH:MM" in bad.text


async def test_logs_show_admin_actions_to_audit_readers(dashboard: httpx.AsyncClient,
                                                        world: World,
                                                        admin_store: fv.Store) -> None:
    await admin_store.groups.protect(group=fv.GroupInfo(id=GROUP, title="Alpha"), owner=OWNER,
                                     actor=fv.Actor(uid="someone"))
    await sign_in(dashboard, "admin")
    page = await dashboard.get("/logs")
    assert 'id="log-audit" sse-swap="audit"' in page.text
    assert "group.protect" in page.text
