"""Live fan-out: one listener per key shared by many subscribers, on the emulator."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import anyio
import pytest

import firestore_verify as fv
from firestore_verify.fanout import FanOut, SubscriberDroppedError, Subscription
from firestore_verify.live import document_source

pytestmark = pytest.mark.anyio

T = TypeVar("T")
GROUP = fv.GroupInfo(id=-1001, title="Crypto Chat")
OWNER = fv.OwnerInfo(id=42, username="alice")
NEWS = fv.ChannelInfo(id=-2001, title="News", username="news")


def listener_threads() -> int:
    return sum(1 for t in threading.enumerate() if "ConsumeBidirectionalStream" in t.name)


async def wait_until(predicate: Callable[[], bool], what: str, limit: float = 10) -> None:
    try:
        with anyio.fail_after(limit):
            while not predicate():
                await anyio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {limit} s waiting for {what}") from None


async def next_matching(sub: Subscription[T], check: Callable[[T], bool], what: str,
                        limit: float = 10) -> T:
    try:
        with anyio.fail_after(limit):
            while True:
                value = await sub.next()
                if check(value):
                    return value
    except TimeoutError:
        raise AssertionError(f"timed out after {limit} s waiting for {what}") from None


def ready_value(sub: Subscription[T]) -> T:
    """The value ``sub.next()`` returns without waiting at all (fails if it would wait)."""
    step = sub.next()
    try:
        step.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    step.close()
    raise AssertionError("the subscriber had no value ready")


class Counting:
    """A factory that counts its calls and remembers the streams it made."""

    def __init__(self, make: Callable[[], fv.LiveStream[Any]]) -> None:
        self.make = make
        self.streams: list[fv.LiveStream[Any]] = []

    def __call__(self) -> fv.LiveStream[Any]:
        self.streams.append(self.make())
        return self.streams[-1]

    @property
    def calls(self) -> int:
        return len(self.streams)


def mode_value(entry: fv.ConfigEntry | None) -> Any:
    return None if entry is None else entry.value


async def test_fifty_subscribers_share_one_listener_and_all_see_a_change(
    store: fv.Store,
) -> None:
    before = listener_threads()
    factory = Counting(store.stats.watch)
    async with FanOut(linger_seconds=0) as hub:
        async with AsyncExitStack() as stack:
            subs = [await stack.enter_async_context(hub.subscribe("stats", factory))
                    for _ in range(50)]
            for sub in subs:
                first = await next_matching(sub, lambda s: True, "the first stats")
                assert first.total_groups == 0
            assert factory.calls == 1
            assert hub.streams == 1
            assert hub.subscribers("stats") == 50
            assert hub.stats.subscribers == {"stats": 50}
            # stats.watch listens to two sources (the document and the shards): two threads.
            assert listener_threads() == before + 2

            await store.groups.protect(GROUP, OWNER, [NEWS])
            for sub in subs:
                stats = await next_matching(sub, lambda s: s.total_groups == 1,
                                            "every subscriber to see the new group")
                assert stats.total_channels == 1
            assert factory.calls == 1
            assert hub.stats.dropped == 0
        # The last subscriber left (linger 0): the stream and its listeners are closed.
        assert hub.streams == 0
        assert hub.subscribers() == 0
        await wait_until(lambda: listener_threads() == before, "the listener threads to end")
        assert hub.stats.started == 1


async def test_late_subscriber_gets_the_current_state_at_once(store: fv.Store) -> None:
    factory = Counting(lambda: store.config.watch_document("mode"))
    async with FanOut(linger_seconds=0) as hub, hub.subscribe("mode", factory) as early:
        assert await next_matching(early, lambda e: True, "the first value") is None
        await store.config.set("mode", "strict")
        await next_matching(early, lambda e: mode_value(e) == "strict", "the change")

        async with hub.subscribe("mode", factory) as late:
            assert mode_value(ready_value(late)) == "strict"  # no Firestore round trip
            assert factory.calls == 1
            await store.config.set("mode", "lenient")
            for sub in (early, late):
                await next_matching(sub, lambda e: mode_value(e) == "lenient",
                                    "both subscribers to see the next change")


async def test_a_lingering_stream_is_reused_then_closed(store: fv.Store) -> None:
    before = listener_threads()
    factory = Counting(lambda: store.config.watch_document("mode"))
    await store.config.set("mode", "strict")
    async with FanOut(linger_seconds=0.3) as hub:
        async with hub.subscribe("mode", factory) as sub:
            await next_matching(sub, lambda e: mode_value(e) == "strict", "the value")
        assert hub.streams == 1  # lingering: a reconnecting browser comes back at once
        async with hub.subscribe("mode", factory) as again:
            assert mode_value(ready_value(again)) == "strict"
        assert factory.calls == 1
        await wait_until(lambda: hub.streams == 0, "the idle stream to close after its linger")
        await wait_until(lambda: listener_threads() == before, "the listener thread to end")
        async with hub.subscribe("mode", factory) as fresh:
            await next_matching(fresh, lambda e: mode_value(e) == "strict", "a fresh stream")
        assert factory.calls == 2


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_receiving(
    store: fv.Store,
) -> None:
    factory = Counting(lambda: store.config.watch_document("mode"))
    async with (FanOut(max_queue=2, linger_seconds=0) as hub,
                hub.subscribe("mode", factory) as fast,
                hub.subscribe("mode", factory) as slow):
        seen: list[Any] = []

        async def read_fast() -> None:
            async for entry in fast:
                seen.append(mode_value(entry))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read_fast)
            written = 0
            with anyio.fail_after(20):
                while slow.dropped is None:  # slow never reads: it falls behind, then out
                    written += 1
                    await store.config.set("mode", written)
                    await wait_until(lambda: bool(seen) and seen[-1] == written,  # noqa: B023
                                     f"the fast subscriber to see {written}")
            assert slow.dropped == "slow"
            assert hub.subscribers("mode") == 1
            assert hub.stats.dropped == 1
            await store.config.set("mode", "after")
            await wait_until(lambda: seen[-1] == "after", "the fast one to keep receiving")
            tasks.cancel_scope.cancel()
        with pytest.raises(SubscriberDroppedError) as caught:
            await slow.next()
        assert caught.value.reason == "slow"
        assert isinstance(caught.value, fv.errors.FirestoreVerifyError)
        with pytest.raises(StopAsyncIteration):  # raised once, then a clear end
            await slow.next()
        assert factory.calls == 1


async def test_a_failing_stream_drops_its_subscribers_and_the_next_starts_afresh(
    store: fv.Store,
) -> None:
    ref = store.sync_client.collection(store.collection_name("admin_config")).document("mode")

    def combine(sources: list[list[Any]]) -> Any:
        snapshot = sources[0][0] if sources[0] else None
        value = (snapshot.to_dict() or {}).get("value") if snapshot and snapshot.exists else None
        if value == "boom":
            raise RuntimeError("a document this stream cannot read")
        return value

    factory = Counting(lambda: fv.LiveStream([document_source(ref)], combine))
    await store.config.set("mode", "fine")
    async with FanOut(linger_seconds=0) as hub:
        async with hub.subscribe("mode", factory) as one, hub.subscribe("mode", factory) as two:
            for sub in (one, two):
                assert await next_matching(sub, lambda v: True, "the first value") == "fine"
            await store.config.set("mode", "boom")
            for sub in (one, two):
                with pytest.raises(SubscriberDroppedError) as caught:
                    await next_matching(sub, lambda v: False, "the failure")
                assert caught.value.reason == "failed"
                assert isinstance(caught.value.__cause__, RuntimeError)
                assert sub.dropped == "failed"
            assert hub.streams == 0
            assert hub.stats.failed == 1
        await store.config.set("mode", "fine again")
        async with hub.subscribe("mode", factory) as three:
            assert await next_matching(three, lambda v: v == "fine again", "a fresh stream")
        assert factory.calls == 2


async def test_a_stream_that_ends_ends_its_subscribers(store: fv.Store) -> None:
    factory = Counting(lambda: store.config.watch_document("mode"))
    async with FanOut(linger_seconds=0) as hub:
        async with hub.subscribe("mode", factory) as sub:
            await next_matching(sub, lambda e: True, "the first value")
            await factory.streams[0].aclose()  # e.g. closed by its owner
            with pytest.raises(StopAsyncIteration):
                await next_matching(sub, lambda e: False, "the end")
            assert sub.dropped is None
            assert hub.streams == 0
        async with hub.subscribe("mode", factory) as again:
            assert await next_matching(again, lambda e: True, "a fresh stream") is None
        assert factory.calls == 2


async def test_a_cancelled_subscriber_leaves_and_closing_the_hub_ends_the_rest(
    store: fv.Store,
) -> None:
    factory = Counting(store.stats.watch)
    hub = FanOut(linger_seconds=60)
    got_first = anyio.Event()

    async def sse_endpoint() -> None:  # what an SSE handler does until the browser goes
        async with hub.subscribe("stats", factory) as updates:
            async for _stats in updates:
                got_first.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(sse_endpoint)
        with anyio.fail_after(10):
            await got_first.wait()
        assert hub.subscribers("stats") == 1
        tasks.cancel_scope.cancel()  # the connection closed
    assert hub.subscribers("stats") == 0
    assert hub.streams == 1  # lingering
    async with hub.subscribe("stats", factory) as sub:
        assert ready_value(sub).total_groups == 0
        await hub.aclose()
        assert hub.streams == 0
        with pytest.raises(StopAsyncIteration):
            await next_matching(sub, lambda s: False, "the end")


def test_settings_are_validated() -> None:
    bad: dict[str, Any]
    for bad in ({"max_queue": 0}, {"max_queue": True}, {"linger_seconds": -1}):
        with pytest.raises(fv.InvalidInputError):
            FanOut(**bad)
    with pytest.raises(fv.InvalidInputError):
        FanOut().subscribe("", store_less)


def store_less() -> fv.LiveStream[None]:
    raise AssertionError("a bad key must be refused before the factory runs")
