"""Groups and channels: both sides of every link, and the counters, stay true."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import firestore_verify as fv

OWNER = fv.OwnerInfo(id=42, username="alice")


def group(gid: int, title: str | None = None, **extra: Any) -> fv.GroupInfo:
    return fv.GroupInfo(id=gid, title=title or f"group {gid}", **extra)


def channel(cid: int, title: str | None = None, **extra: Any) -> fv.ChannelInfo:
    return fv.ChannelInfo(id=cid, title=title or f"channel {cid}", **extra)


async def assert_consistent(store: fv.Store) -> tuple[dict[int, fv.ProtectedGroup],
                                                      dict[int, fv.EnforcedChannel]]:
    """Both sides agree and the counters equal a recount from the collections.

    Every channel a group embeds exists, lists the group back and matches the
    embedded ref; every group a channel lists exists and embeds the channel;
    ``total_groups`` counts enabled groups, ``total_channels`` every channel.
    Returns the groups and channels read, by id, for further assertions.
    """
    groups = {g.id: g async for g in store.groups.iterate()}
    channels = {c.id: c async for c in store.channels.iterate()}
    for g in groups.values():
        assert len(set(g.channel_ids)) == len(g.channel_ids), f"duplicate refs in {g.id}"
        for ref in g.enforced_channels:
            assert ref.channel_id in channels, f"group {g.id} embeds missing {ref.channel_id}"
            c = channels[ref.channel_id]
            assert g.id in c.linked_groups, f"channel {c.id} does not list group {g.id}"
            assert ref == c.ref(), f"stale ref of {c.id} in group {g.id}"
    for c in channels.values():
        assert len(set(c.linked_groups)) == len(c.linked_groups), f"duplicates in {c.id}"
        for gid in c.linked_groups:
            assert gid in groups, f"channel {c.id} lists missing group {gid}"
            assert c.id in groups[gid].channel_ids, f"group {gid} does not embed {c.id}"
    stats = await store.stats.get()
    assert stats.total_groups == sum(g.enabled for g in groups.values()), "total_groups"
    assert stats.total_channels == len(channels), "total_channels"
    return groups, channels


# -- protect ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_protect_creates_everything(store: fv.Store) -> None:
    result = await store.groups.protect(
        group=group(-1001, "Crypto Chat", member_count=120),
        owner=OWNER,
        channels=[channel(-2001, "News", username="news_chan"),
                  channel(-2002, "Deals", invite_link="https://t.me/+abc", subscriber_count=9)],
        params={"warning_template": "Join {channels} first"},
    )
    assert result.created
    assert result.enabled
    assert result.new_channels == [-2001, -2002]
    g = result.group
    assert (g.id, g.title, g.owner_id, g.enabled, g.member_count) == (
        -1001, "Crypto Chat", 42, True, 120)
    assert g.params == {"warning_template": "Join {channels} first"}
    assert g.channel_ids == [-2001, -2002]
    assert g.enforced_channels[0].join_url() == "https://t.me/news_chan"
    assert g.created_at is not None
    assert g.created_at == g.updated_at

    owner = await store.owners.get(42)
    assert owner.username == "alice"
    deals = await store.channels.get(-2002)
    assert (deals.title, deals.invite_link, deals.subscriber_count, deals.linked_groups) == (
        "Deals", "https://t.me/+abc", 9, [-1001])

    # One read serves a verification: the group embeds what the bot needs.
    assert await store.groups.get(-1001) == g
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (1, 2)
    await assert_consistent(store)


@pytest.mark.anyio
async def test_protect_twice_changes_nothing(store: fv.Store) -> None:
    args: dict[str, Any] = {"group": group(-1001), "owner": OWNER,
                            "channels": [channel(-2001, username="news_chan"), channel(-2002)],
                            "params": {"a": 1}}
    first = await store.groups.protect(**args)
    channels_before = await store.channels.get_many([-2001, -2002])
    owner_before = await store.owners.get(42)
    stats_before = await store.stats.get()

    again = await store.groups.protect(**args)
    assert not again.created
    assert not again.enabled
    assert again.new_channels == []
    assert again.group == first.group
    assert again.group.updated_at == first.group.updated_at
    assert await store.channels.get_many([-2001, -2002]) == channels_before
    assert await store.owners.get(42) == owner_before

    # Fewer details than before (no username now) keep what is known.
    again = await store.groups.protect(group=group(-1001), owner=fv.OwnerInfo(id=42),
                                       channels=[channel(-2001)])
    assert again.group == first.group
    assert await store.owners.get(42) == owner_before
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (1, 2)
    assert stats.last_updated == stats_before.last_updated  # no counter write at all
    await assert_consistent(store)


@pytest.mark.anyio
async def test_protect_adds_and_refreshes(store: fv.Store) -> None:
    await store.groups.protect(group=group(-1001), owner=OWNER, channels=[channel(-2001)])
    result = await store.groups.protect(
        group=group(-1001, "New title", member_count=5),
        owner=fv.OwnerInfo(id=43, username="bob_b"),
        channels=[channel(-2001, "Renamed"), channel(-2002)],
    )
    g = result.group
    assert (g.title, g.owner_id, g.member_count) == ("New title", 43, 5)
    assert g.channel_ids == [-2001, -2002]  # added, never removed
    assert g.enforced_channels[0].title == "Renamed"
    assert g.updated_at is not None
    assert g.created_at is not None
    assert g.updated_at > g.created_at
    assert result.new_channels == [-2002]
    assert (await store.channels.get(-2001)).title == "Renamed"
    assert (await store.owners.get(43)).username == "bob_b"
    await assert_consistent(store)


@pytest.mark.anyio
async def test_fresher_channel_details_reach_every_linked_group(store: fv.Store) -> None:
    # protect/link learn a channel's new title from Telegram: every group that
    # embeds the channel must show it, not only the group being protected.
    for gid in (-1001, -1002, -1003):
        await store.groups.protect(group=group(gid), owner=OWNER,
                                   channels=[channel(-2001, "Old", username="old_name")])
    await store.groups.protect(group=group(-1001), owner=OWNER,
                               channels=[channel(-2001, "Renamed")])
    for gid in (-1001, -1002, -1003):
        ref = (await store.groups.get(gid)).enforced_channels[0]
        assert (ref.title, ref.username) == ("Renamed", "old_name"), gid
    await assert_consistent(store)

    await store.groups.link_channel(-1002, channel(-2001, "Again", invite_link="https://t.me/+x"))
    for gid in (-1001, -1002, -1003):
        ref = (await store.groups.get(gid)).enforced_channels[0]
        assert (ref.title, ref.invite_link) == ("Again", "https://t.me/+x"), gid
    await assert_consistent(store)


@pytest.mark.anyio
async def test_protect_refuses_bad_input(store: fv.Store) -> None:
    with pytest.raises(fv.InvalidInputError, match="twice"):
        await store.groups.protect(group=group(-1), owner=OWNER,
                                   channels=[channel(-2), channel(-2, "again")])
    with pytest.raises(fv.InvalidInputError) as info:
        await store.groups.protect(group={"id": 1, "title": ""}, owner=OWNER)
    assert {e.split(":")[0] for e in info.value.errors} == {"id", "title"}
    with pytest.raises(fv.InvalidInputError, match="params"):
        await store.groups.protect(group=group(-1), owner=OWNER,
                                   params={"warning_template": "x" * 33_000})
    with pytest.raises(fv.InvalidInputError, match="at most 50"):
        await store.groups.protect(group=group(-1), owner=OWNER,
                                   channels=[channel(-i) for i in range(2, 53)])
    # Nothing was written by any of them.
    assert await store.groups.count() == 0
    assert await store.channels.count() == 0
    assert await store.owners.count() == 0
    assert (await store.stats.get()).total_channels == 0


@pytest.mark.anyio
async def test_unprotect_and_reprotect(store: fv.Store) -> None:
    await store.groups.protect(group=group(-1001), owner=OWNER, channels=[channel(-2001)])
    await store.groups.protect(group=group(-1002), owner=OWNER, channels=[channel(-2001)])
    assert (await store.stats.get()).total_groups == 2

    off = await store.groups.unprotect(-1001)
    assert not off.enabled
    assert off.channel_ids == [-2001]  # data and links are kept
    assert (await store.stats.get()).total_groups == 1
    again = await store.groups.unprotect(-1001)
    assert again.updated_at == off.updated_at
    assert (await store.stats.get()).total_groups == 1
    await assert_consistent(store)

    back = await store.groups.protect(group=group(-1001), owner=OWNER)
    assert not back.created
    assert back.enabled
    assert back.group.enabled
    assert back.group.channel_ids == [-2001]
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (2, 1)
    with pytest.raises(fv.NotFoundError):
        await store.groups.unprotect(-404)
    await assert_consistent(store)


# -- link / unlink -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_link_and_unlink(store: fv.Store) -> None:
    await store.groups.protect(group=group(-1001), owner=OWNER, channels=[channel(-2001)])
    await store.groups.protect(group=group(-1002), owner=OWNER)

    g = await store.groups.link_channel(-1002, channel(-2001))
    assert g.channel_ids == [-2001]
    assert (await store.channels.get(-2001)).linked_groups == [-1001, -1002]
    assert (await store.stats.get()).total_channels == 1  # existing channel, not counted

    g = await store.groups.link_channel(-1002, {"id": -2002, "title": "new one"})
    assert g.channel_ids == [-2001, -2002]
    assert (await store.channels.get(-2002)).linked_groups == [-1002]
    assert (await store.stats.get()).total_channels == 2

    # Linking again changes nothing.
    same = await store.groups.link_channel(-1002, channel(-2002, "new one"))
    assert same.updated_at == g.updated_at
    await assert_consistent(store)

    g = await store.groups.unlink_channel(-1002, -2001)
    assert g.channel_ids == [-2002]
    assert (await store.channels.get(-2001)).linked_groups == [-1001]
    again = await store.groups.unlink_channel(-1002, -2001)
    assert again.updated_at == g.updated_at
    await assert_consistent(store)

    with pytest.raises(fv.NotFoundError):
        await store.groups.link_channel(-404, channel(-2001))
    with pytest.raises(fv.NotFoundError):
        await store.groups.unlink_channel(-404, -2001)
    assert (await store.channels.get(-2001)).linked_groups == [-1001]
    with pytest.raises(fv.InvalidInputError):
        await store.groups.link_channel(-1001, {"id": 5, "title": "positive id"})
    await assert_consistent(store)


@pytest.mark.anyio
async def test_unlink_from_last_group_keeps_channel_unless_asked(store: fv.Store) -> None:
    await store.groups.protect(group=group(-1001), owner=OWNER,
                               channels=[channel(-2001), channel(-2002)])
    await store.groups.unlink_channel(-1001, -2001)
    kept = await store.channels.get(-2001)
    assert kept.linked_groups == []
    assert (await store.stats.get()).total_channels == 2
    await assert_consistent(store)

    g = await store.groups.unlink_channel(-1001, -2002, delete_orphan=True)
    assert g.channel_ids == []
    assert not await store.channels.exists(-2002)
    assert (await store.stats.get()).total_channels == 1
    await assert_consistent(store)


@pytest.mark.anyio
async def test_unlink_of_a_channel_nobody_knows_is_not_found(store: fv.Store) -> None:
    await store.groups.protect(group=group(-1001), owner=OWNER, channels=[channel(-2001)])
    before = await store.groups.get(-1001)
    with pytest.raises(fv.NotFoundError, match="-2999"):
        await store.groups.unlink_channel(-1001, -2999)
    assert (await store.groups.get(-1001)).updated_at == before.updated_at
    await assert_consistent(store)


@pytest.mark.anyio
async def test_create_never_touches_a_group_created_meanwhile(store: fv.Store) -> None:
    first = fv.ProtectedGroup(id=-1001, owner_id=42, title="first",
                              enforced_channels=[fv.ChannelRef(channel_id=-2001, title="a")])
    second = fv.ProtectedGroup(id=-1001, owner_id=43, title="second",
                               enforced_channels=[fv.ChannelRef(channel_id=-2002, title="b")])
    outcomes: list[BaseException | fv.ProtectedGroup] = []

    async def create(doc: fv.ProtectedGroup) -> None:
        try:
            outcomes.append(await store.groups.create(doc))
        except fv.AlreadyExistsError as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(create, first)
        tg.start_soon(create, second)
    [won] = [o for o in outcomes if isinstance(o, fv.ProtectedGroup)]
    assert sum(isinstance(o, fv.AlreadyExistsError) for o in outcomes) == 1
    # The loser changed nothing: not the title, not the channels, not the counters.
    stored = await store.groups.get(-1001)
    assert (stored.title, stored.channel_ids) == (won.title, won.channel_ids)
    _groups, channels = await assert_consistent(store)
    assert sorted(channels) == won.channel_ids
    with pytest.raises(fv.AlreadyExistsError):
        await store.groups.create(first)


@pytest.mark.anyio
async def test_unlink_with_delete_orphan_keeps_channels_still_linked(store: fv.Store) -> None:
    await store.groups.protect(group=group(-1001), owner=OWNER, channels=[channel(-2001)])
    await store.groups.protect(group=group(-1002), owner=OWNER, channels=[channel(-2001)])
    await store.groups.unlink_channel(-1001, -2001, delete_orphan=True)
    assert (await store.channels.get(-2001)).linked_groups == [-1002]
    assert (await store.stats.get()).total_channels == 1
    await assert_consistent(store)


# -- channel and group CRUD keep both sides ---------------------------------------------


@pytest.mark.anyio
async def test_channel_update_reaches_every_linked_group(store: fv.Store) -> None:
    for gid in (-1001, -1002):
        await store.groups.protect(group=group(gid), owner=OWNER,
                                   channels=[channel(-2001, "Old"), channel(-2002)])
    await store.groups.protect(group=group(-1003), owner=OWNER, channels=[channel(-2002)])
    before = await store.groups.get(-1003)

    updated = await store.channels.update(-2001, title="New", username="new_name")
    assert (updated.title, updated.username) == ("New", "new_name")
    for gid in (-1001, -1002):
        g = await store.groups.get(gid)
        assert g.enforced_channels[0].title == "New"
        assert g.enforced_channels[0].join_url() == "https://t.me/new_name"
        assert g.enforced_channels[1].title == "channel -2002"
    assert await store.groups.get(-1003) == before  # not linked: untouched

    # A change that is not part of the ref leaves groups alone.
    g1 = await store.groups.get(-1001)
    await store.channels.update(-2001, subscriber_count=77)
    assert await store.groups.get(-1001) == g1
    # No change at all writes nothing.
    c = await store.channels.get(-2001)
    assert await store.channels.update(-2001, title="New") == c
    with pytest.raises(fv.NotFoundError):
        await store.channels.update(-404, title="x")
    await assert_consistent(store)


@pytest.mark.anyio
async def test_channel_create_and_delete(store: fv.Store) -> None:
    created = await store.channels.create(fv.EnforcedChannel(id=-2009, title="standalone"))
    assert created.linked_groups == []
    assert (await store.stats.get()).total_channels == 1
    with pytest.raises(fv.AlreadyExistsError):
        await store.channels.create({"id": -2009, "title": "again"})
    with pytest.raises(fv.InvalidInputError, match="link_channel"):
        await store.channels.create({"id": -2010, "title": "x", "linked_groups": [-1]})
    assert (await store.stats.get()).total_channels == 1

    for gid in (-1001, -1002):
        await store.groups.protect(group=group(gid), owner=OWNER,
                                   channels=[channel(-2001), channel(-2009)])
    assert await store.channels.delete(-2009)
    for gid in (-1001, -1002):
        assert (await store.groups.get(gid)).channel_ids == [-2001]
    assert not await store.channels.delete(-2009)
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (2, 1)
    await assert_consistent(store)


@pytest.mark.anyio
async def test_group_create_and_delete(store: fv.Store) -> None:
    model = fv.ProtectedGroup(id=-1001, owner_id=42, title="made whole",
                              params={"k": "v"},
                              enforced_channels=[fv.ChannelRef(channel_id=-2001, title="c1")])
    created = await store.groups.create(model)
    assert created.channel_ids == [-2001]
    assert created.params == {"k": "v"}
    assert await store.owners.exists(42)
    with pytest.raises(fv.AlreadyExistsError):
        await store.groups.create(model)
    disabled = await store.groups.create({"id": -1002, "owner_id": 42, "title": "off",
                                          "enabled": False,
                                          "enforced_channels": [{"channel_id": -2001,
                                                                 "title": "c1"}]})
    assert not disabled.enabled
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (1, 1)
    await assert_consistent(store)

    assert await store.groups.delete(-1001)
    assert (await store.channels.get(-2001)).linked_groups == [-1002]
    assert not await store.groups.delete(-1001)
    assert await store.groups.delete(-1002)  # disabled: total_groups must not drop again
    channel_left = await store.channels.get(-2001)
    assert channel_left.linked_groups == []  # the channel stays, unlinked
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (0, 1)
    await assert_consistent(store)


# -- concurrency -----------------------------------------------------------------------------


# The emulator resolves lock contention with ~2 s timeouts, so each test keeps
# to two or three concurrent transactions.


@pytest.mark.anyio
async def test_concurrent_protects_share_channels(store: fv.Store) -> None:
    await store.groups.protect(group=group(-1001), owner=OWNER, channels=[channel(-2001)])

    async with anyio.create_task_group() as tg:
        # Both link -2001 and both create -2002: it must be counted once.
        tg.start_soon(lambda: store.groups.protect(
            group=group(-1002), owner=OWNER, channels=[channel(-2001), channel(-2002)]))
        tg.start_soon(lambda: store.groups.protect(
            group=group(-1001), owner=OWNER, channels=[channel(-2002), channel(-2003)]))

    groups, channels = await assert_consistent(store)
    assert sorted(groups[-1001].channel_ids) == [-2003, -2002, -2001]
    assert sorted(groups[-1002].channel_ids) == [-2002, -2001]
    assert sorted(channels[-2001].linked_groups) == [-1002, -1001]
    assert sorted(channels[-2002].linked_groups) == [-1002, -1001]
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (2, 3)


@pytest.mark.anyio
async def test_concurrent_links_of_one_new_channel(store: fv.Store) -> None:
    for gid in (-1001, -1002):
        await store.groups.protect(group=group(gid), owner=OWNER, channels=[channel(-2001)])

    async with anyio.create_task_group() as tg:
        tg.start_soon(store.groups.link_channel, -1001, channel(-2002))
        tg.start_soon(store.groups.link_channel, -1002, channel(-2002))
        tg.start_soon(lambda: store.groups.unlink_channel(-1002, -2001))

    groups, channels = await assert_consistent(store)
    assert sorted(channels[-2002].linked_groups) == [-1002, -1001]
    assert channels[-2001].linked_groups == [-1001]
    assert groups[-1002].channel_ids == [-2002]
    stats = await store.stats.get()
    assert (stats.total_groups, stats.total_channels) == (2, 2)


@pytest.mark.anyio
async def test_consistency_check_catches_drift(store: fv.Store) -> None:
    # The helper itself must fail on a one-sided link and on a wrong counter.
    await store.groups.protect(group=group(-1001), owner=OWNER, channels=[channel(-2001)])
    await store.channels.ref(-2001).update({"linked_groups": []})
    with pytest.raises(AssertionError, match="does not list group"):
        await assert_consistent(store)
    await store.channels.ref(-2001).update({"linked_groups": [-1001]})
    await assert_consistent(store)
    await store.stats.ref.update({"total_channels": 5})
    with pytest.raises(AssertionError, match="total_channels"):
        await assert_consistent(store)
