"""MembershipChecker and GroupIndex: the per-message work every bot does."""

from __future__ import annotations

import anyio
import pytest

import firestore_verify as fv

pytestmark = pytest.mark.anyio

GROUP = fv.GroupInfo(id=-1001, title="Chat")
OWNER = fv.OwnerInfo(id=42)
NEWS = fv.ChannelInfo(id=-2001, title="News", username="news")
TALK = fv.ChannelInfo(id=-2002, title="Talk", username="talk")


class Messenger:
    """The bot's side of a lookup: who is in which channel, and calls made."""

    def __init__(self) -> None:
        self.members: set[tuple[int, int]] = set()
        self.broken: set[int] = set()
        self.calls: list[tuple[int, int]] = []

    async def lookup(self, user_id: int, channel_id: int) -> bool:
        self.calls.append((user_id, channel_id))
        if channel_id in self.broken:
            raise ConnectionError("messenger unreachable")
        return (user_id, channel_id) in self.members


async def test_checks_every_channel_caches_and_logs(store: fv.Store) -> None:
    group = (await store.groups.protect(GROUP, OWNER, [NEWS, TALK])).group
    messenger = Messenger()
    messenger.members.add((7, NEWS.id))
    seen: list[fv.ChannelResult] = []
    cache = fv.MembershipCache()
    async with store.verifications.logger(max_writes_per_second=50) as log:
        checker = fv.MembershipChecker(messenger.lookup, cache, log,
                                       on_result=lambda u, g, r: seen.append(r))
        first = await checker.check(7, group)
        assert not first.verified
        assert [c.channel_id for c in first.missing] == [TALK.id]
        assert len(messenger.calls) == 2
        again = await checker.check(7, group)  # both answers cached now
        assert len(messenger.calls) == 2
        assert all(r.cached for r in again.channels)
        messenger.members.add((7, TALK.id))
        assert not (await checker.check(7, group)).verified  # the negative answer is cached
        assert (await checker.check(7, group, fresh=True)).verified  # "I have joined"
    assert len(seen) == 8
    events = [e async for e in store.verifications.iterate()]
    assert len(events) == 8
    assert sum(e.cached for e in events) == 4
    assert {(e.channel_id, e.status) for e in events if not e.cached} >= {
        (NEWS.id, fv.Status.SUCCESS), (TALK.id, fv.Status.FAILED), (TALK.id, fv.Status.SUCCESS)}
    stats = await store.stats.get()
    assert (stats.success_count, stats.failed_count) == (5, 3)


async def test_a_failed_lookup_blocks_and_is_logged_as_error(store: fv.Store) -> None:
    group = (await store.groups.protect(GROUP, OWNER, [NEWS])).group
    messenger = Messenger()
    messenger.members.add((7, NEWS.id))
    messenger.broken.add(NEWS.id)
    async with store.verifications.logger() as log:
        checker = fv.MembershipChecker(messenger.lookup, fv.MembershipCache(), log)
        result = await checker.check(7, group)
        assert not result.verified
        assert result.channels[0].error_type == "ConnectionError"
        messenger.broken.clear()
        assert (await checker.check(7, group)).verified  # errors are never cached
    errors = await store.verifications.list(status="error")
    assert [e.error_type for e in errors] == ["ConnectionError"]


async def test_group_index_follows_changes_made_elsewhere(store: fv.Store) -> None:
    index = fv.GroupIndex()
    async with anyio.create_task_group() as tasks:
        await tasks.start(index.follow, store)
        assert index.live
        assert len(index) == 0
        await store.groups.protect(GROUP, OWNER, [NEWS])
        with anyio.fail_after(10):
            while index.get(GROUP.id) is None:
                await anyio.sleep(0.02)
        await store.groups.link_channel(GROUP.id, TALK)
        with anyio.fail_after(10):
            while not index.groups_for_channel(TALK.id):
                await anyio.sleep(0.02)
        assert [g.id for g in index.groups_for_channel(NEWS.id)] == [GROUP.id]
        await store.groups.unprotect(GROUP.id)
        with anyio.fail_after(10):
            while index.get(GROUP.id) is not None:
                await anyio.sleep(0.02)
        assert index.groups_for_channel(NEWS.id) == []
        tasks.cancel_scope.cancel()
    assert not index.live


async def test_watch_skips_a_document_that_does_not_validate(store: fv.Store) -> None:
    await store.groups.protect(GROUP, OWNER, [NEWS])
    # Another client writes a group this library cannot read (a positive id).
    await store.collection("protected_groups").document("5").set({"title": "", "owner_id": 1})
    async with store.groups.watch() as groups:
        assert [g.id for g in await groups.next()] == [GROUP.id]
