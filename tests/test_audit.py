"""Audited changes: every admin change commits with its audit entry, and only then."""

from __future__ import annotations

from typing import Any

import pytest

import firestore_verify as fv
from firestore_verify.models import Actor

pytestmark = pytest.mark.anyio

ACTOR = Actor(uid="admin-1", ip_address="203.0.113.7", user_agent="pytest")
GROUP = fv.GroupInfo(id=-1001, title="Crypto Chat")
OWNER = fv.OwnerInfo(id=42, username="alice")
NEWS = fv.ChannelInfo(id=-2001, title="News", username="news")
DEALS = fv.ChannelInfo(id=-2002, title="Deals", username="deals")


async def entries(store: fv.Store) -> list[fv.AuditEntry]:
    page = await store.audit.list(limit=100)
    return sorted(page.items, key=lambda e: (e.created_at is None, e.created_at))


def summary(entry: fv.AuditEntry) -> tuple[str, str, str | None, Any, Any]:
    return (entry.action, entry.resource_type, entry.resource_id, entry.old_value,
            entry.new_value)


async def test_group_changes_are_audited_once_each(store: fv.Store) -> None:
    await store.groups.protect(GROUP, OWNER, [NEWS])  # the bot: no actor, no entry
    assert await entries(store) == []

    await store.groups.unprotect(GROUP.id, actor=ACTOR)
    await store.groups.unprotect(GROUP.id, actor=ACTOR)  # no change, so no entry
    await store.groups.enable(GROUP.id, actor=ACTOR)
    await store.groups.update(GROUP.id, title="Crypto Talk", actor=ACTOR)
    await store.groups.update(GROUP.id, title="Crypto Talk", actor=ACTOR)  # unchanged
    await store.groups.link_channel(GROUP.id, DEALS, actor=ACTOR)
    await store.groups.unlink_channel(GROUP.id, NEWS.id, actor=ACTOR)
    await store.groups.unlink_channel(GROUP.id, NEWS.id, actor=ACTOR)  # already gone

    found = await entries(store)
    assert [summary(e) for e in found] == [
        ("group.disable", "group", "-1001", {"enabled": True}, {"enabled": False}),
        ("group.enable", "group", "-1001", {"enabled": False}, {"enabled": True}),
        ("group.update", "group", "-1001", {"title": "Crypto Chat"}, {"title": "Crypto Talk"}),
        ("group.link_channel", "group", "-1001", None,
         {"channel_id": -2002, "title": "Deals", "username": "deals", "invite_link": None}),
        ("group.unlink_channel", "group", "-1001",
         {"channel_id": -2001, "title": "News", "username": "news", "invite_link": None},
         {"delete_orphan": False}),
    ]
    for entry in found:
        assert (entry.actor_uid, entry.ip_address, entry.user_agent) == (
            "admin-1", "203.0.113.7", "pytest")
        assert entry.created_at is not None
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (1, 2)


async def test_a_failed_change_leaves_no_entry(store: fv.Store) -> None:
    with pytest.raises(fv.NotFoundError):
        await store.groups.link_channel(-1999, NEWS, actor=ACTOR)
    with pytest.raises(fv.NotFoundError):
        await store.groups.enable(-1999, actor=ACTOR)
    await store.groups.protect(GROUP, OWNER, [NEWS])
    with pytest.raises(fv.InvalidInputError, match="enabled"):
        await store.groups.update(GROUP.id, enabled=False, actor=ACTOR)  # guarded field
    with pytest.raises(fv.InvalidInputError):
        await store.groups.update(GROUP.id, title="", actor=ACTOR)
    assert await entries(store) == []
    assert (await store.groups.get(GROUP.id)).title == "Crypto Chat"


async def test_channel_changes_are_audited(store: fv.Store) -> None:
    channel = fv.EnforcedChannel(id=-2003, title="Alerts", username="alerts")
    await store.channels.create(channel, actor=ACTOR)
    with pytest.raises(fv.AlreadyExistsError):
        await store.channels.create(channel, actor=ACTOR)
    await store.channels.update(-2003, title="Alerts!", actor=ACTOR)
    await store.channels.delete(-2003, actor=ACTOR)
    assert not await store.channels.delete(-2003, actor=ACTOR)
    actions = [(e.action, e.old_value, e.new_value) for e in await entries(store)]
    assert [a for a, _, _ in actions] == ["channel.create", "channel.update", "channel.delete"]
    assert actions[0][2]["title"] == "Alerts"
    assert actions[1][1:] == ({"title": "Alerts"}, {"title": "Alerts!"})
    assert actions[2][1]["title"] == "Alerts!"
    assert (await store.stats.get()).total_channels == 0


async def test_config_set_is_audited_and_masks_secrets(store: fv.Store) -> None:
    await store.config.set("cache.ttl", 60, actor=ACTOR)
    await store.config.set("cache.ttl", 90, actor=ACTOR)
    await store.config.set("webhook.secret", "s3cret", is_sensitive=True, actor=ACTOR)
    await store.config.set("webhook.secret", "n3w", actor=ACTOR)
    found = [summary(e) for e in await entries(store)]
    assert found == [
        ("config.set", "config", "cache.ttl", None, 60),
        ("config.set", "config", "cache.ttl", 60, 90),
        ("config.set", "config", "webhook.secret", None, "********"),
        ("config.set", "config", "webhook.secret", "********", "********"),
    ]
    assert (await store.config.get("webhook.secret")).updated_by == "admin-1"


def admin(uid: str, role: fv.Role, *, active: bool = True) -> fv.AdminUser:
    return fv.AdminUser(uid=uid, email=f"{uid}@example.org", role=role, is_active=active)


async def test_admin_changes_keep_an_active_owner(store: fv.Store) -> None:
    await store.admins.create(admin("o1", fv.Role.OWNER), actor=ACTOR)
    await store.admins.create(admin("a1", fv.Role.ADMIN), actor=ACTOR)
    with pytest.raises(fv.InvalidInputError, match="role"):
        await store.admins.update("a1", role=fv.Role.OWNER)  # only through set_role
    # The only owner can be neither demoted, nor deactivated, nor deleted.
    for attempt in (store.admins.set_role("o1", fv.Role.ADMIN, actor=ACTOR),
                    store.admins.deactivate("o1", actor=ACTOR),
                    store.admins.delete("o1", actor=ACTOR)):
        with pytest.raises(fv.ConflictError, match="last active owner"):
            await attempt
    await store.admins.set_role("a1", "owner", actor=ACTOR)
    await store.admins.set_role("a1", fv.Role.OWNER, actor=ACTOR)  # unchanged: no entry
    await store.admins.deactivate("o1", actor=ACTOR)  # a1 is an owner now
    with pytest.raises(fv.ConflictError):
        await store.admins.delete("a1", actor=ACTOR)  # o1 is inactive: a1 is the last
    await store.admins.activate("o1", actor=ACTOR)
    assert await store.admins.delete("a1", actor=ACTOR)
    with pytest.raises(fv.InvalidInputError, match="unknown role"):
        await store.admins.set_role("o1", "superuser", actor=ACTOR)
    with pytest.raises(fv.NotFoundError):
        await store.admins.set_role("nobody", fv.Role.VIEWER, actor=ACTOR)

    found = [(e.action, e.resource_id, e.old_value, e.new_value) for e in await entries(store)]
    assert [f[:2] for f in found] == [
        ("admin.create", "o1"), ("admin.create", "a1"), ("admin.set_role", "a1"),
        ("admin.deactivate", "o1"), ("admin.activate", "o1"), ("admin.delete", "a1"),
    ]
    assert found[2][2:] == ({"role": "admin"}, {"role": "owner"})
    assert found[3][2:] == ({"is_active": True}, {"is_active": False})
    assert found[5][2]["email"] == "a1@example.org"
    assert [a.uid for a in (await store.admins.list()).items] == ["o1"]


async def test_bulk_enable_and_disable(store: fv.Store) -> None:
    for index in range(3):
        await store.groups.protect(fv.GroupInfo(id=-1001 - index, title=f"G{index}"), OWNER)
    await store.groups.unprotect(-1003)
    outcome = await store.groups.set_enabled([-1001, -1002, -1003, -1999, -1001], False,
                                             actor=ACTOR)
    assert (outcome.changed, outcome.unchanged, outcome.missing) == (
        [-1001, -1002], [-1003], [-1999])
    assert (await store.stats.get()).total_groups == 0
    again = await store.groups.set_enabled([-1001], True, actor=ACTOR)
    assert again.changed == [-1001]
    assert [e.action for e in await entries(store)] == [
        "group.disable", "group.disable", "group.enable"]
    assert (await store.stats.get()).total_groups == 1
