"""Live streams: watchers see changes, coalesce for slow consumers, stop and revive."""

from __future__ import annotations

import threading

import anyio
import pytest

import firestore_verify as fv

pytestmark = pytest.mark.anyio

GROUP = fv.GroupInfo(id=-1001, title="Crypto Chat")
OWNER = fv.OwnerInfo(id=42, username="alice")
NEWS = fv.ChannelInfo(id=-2001, title="News", username="news")


def listener_threads() -> int:
    return sum(1 for t in threading.enumerate() if "ConsumeBidirectionalStream" in t.name)


async def next_matching(stream: fv.LiveStream, check, limit: float = 10):  # type: ignore[no-untyped-def]
    with anyio.fail_after(limit):
        while True:
            value = await stream.next()
            if check(value):
                return value


async def test_stats_watch_sees_every_kind_of_change(store: fv.Store) -> None:
    async with store.stats.watch() as totals:
        assert (await totals.next()).total_groups == 0
        await store.groups.protect(GROUP, OWNER, [NEWS])
        stats = await next_matching(totals, lambda s: s.total_groups == 1)
        assert stats.total_channels == 1
        await store.verifications.create(
            fv.Verification(user_id=7, group_id=GROUP.id, status=fv.Status.SUCCESS))
        stats = await next_matching(totals, lambda s: s.total_verifications == 1)
        assert stats.success_rate == 100.0


async def test_watch_sums_counter_shards(store: fv.Store) -> None:
    async with store.stats.watch() as totals:
        await totals.next()
        event = fv.Verification(user_id=7, group_id=GROUP.id, status=fv.Status.FAILED)
        await store.verifications.write_many([event], shard=3)
        stats = await next_matching(totals, lambda s: s.total_verifications == 1)
        assert stats.failed_count == 1


async def test_group_channel_and_document_watches(store: fv.Store) -> None:
    async with (store.groups.watch(enabled=True) as groups,
                store.channels.watch() as channels,
                store.groups.watch_document(GROUP.id) as one):
        assert await groups.next() == []
        assert await channels.next() == []
        assert await one.next() is None
        await store.groups.protect(GROUP, OWNER, [NEWS])
        listed = await next_matching(groups, lambda gs: len(gs) == 1)
        assert listed[0].channel_ids == [NEWS.id]
        chans = await next_matching(channels, lambda cs: len(cs) == 1)
        assert chans[0].linked_groups == [GROUP.id]
        doc = await next_matching(one, lambda g: g is not None)
        assert doc.title == GROUP.title
        await store.groups.unprotect(GROUP.id)
        assert await next_matching(groups, lambda gs: gs == []) == []
        doc = await next_matching(one, lambda g: g is not None and not g.enabled)
        assert doc.enabled is False


async def test_activity_watch_lists_latest_events(store: fv.Store) -> None:
    async with store.analytics.activity.watch(limit=3, status="error") as feed:
        assert await feed.next() == []
        async with store.verifications.logger(max_writes_per_second=50) as log:
            for user in range(1, 6):
                log.record(fv.Verification(user_id=user, group_id=GROUP.id,
                                           status=fv.Status.ERROR, error_type="Forbidden"))
            log.record(fv.Verification(user_id=9, group_id=GROUP.id, status=fv.Status.SUCCESS))
        events = await next_matching(feed, lambda es: {e.user_id for e in es} == {3, 4, 5})
        assert [e.user_id for e in events] == [5, 4, 3]


async def test_slow_consumer_gets_the_latest_value_only(store: fv.Store) -> None:
    async with store.config.watch_document("mode") as mode:
        assert await mode.next() is None
        for value in range(10):
            await store.config.set("mode", value)
        await anyio.sleep(1.0)  # the consumer is busy; values pile up in Firestore only
        latest = await mode.next()
        assert latest is not None
        assert latest.value == 9


async def test_closing_stops_the_listener_threads(store: fv.Store) -> None:
    before = listener_threads()
    stream = store.stats.watch()
    await stream.start()
    await stream.next()
    assert listener_threads() >= before + 2  # one per source: the document and the shards
    await stream.aclose()
    with anyio.fail_after(10):
        while listener_threads() > before:
            await anyio.sleep(0.05)
    with pytest.raises(StopAsyncIteration):
        await stream.next()


async def test_a_dropped_listener_is_recreated(store: fv.Store) -> None:
    async with store.groups.watch_document(GROUP.id) as one:
        assert await one.next() is None
        # Simulate the listener dying (as after a non-retryable stream error).
        dead = one._watches[0]
        await anyio.to_thread.run_sync(dead.close)
        await store.groups.protect(GROUP, OWNER, [NEWS])
        doc = await next_matching(one, lambda g: g is not None)
        assert doc.id == GROUP.id
        assert one.reconnects == 1
