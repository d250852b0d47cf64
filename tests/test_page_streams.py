"""One stream per page: fan-out streams merged into named events."""

from __future__ import annotations

import anyio
import pytest

import firestore_verify as fv
from firestore_verify.fanout import FanOut, SubscriberDroppedError
from firestore_verify.page_streams import merged

pytestmark = pytest.mark.anyio

GROUP = fv.GroupInfo(id=-1001, title="Crypto Chat")
OWNER = fv.OwnerInfo(id=42)


async def test_current_state_first_then_changes(store: fv.Store) -> None:
    async with FanOut(linger_seconds=0) as hub:
        streams = {"stats": ("stats", store.stats.watch), "groups": ("groups", store.groups.watch)}
        async with merged(hub, streams) as events:
            with anyio.fail_after(10):
                first = {}
                while len(first) < 2:
                    name, value = await events.receive()
                    first[name] = value
            assert first["stats"].total_groups == 0
            assert first["groups"] == []
            await store.groups.protect(GROUP, OWNER)
            seen: dict[str, object] = {}
            with anyio.fail_after(10):
                while "groups" not in seen or "stats" not in seen:
                    name, value = await events.receive()
                    if (name == "groups" and value) or (
                            name == "stats" and value.total_groups == 1):
                        seen[name] = value
            assert hub.streams == 2  # one listener per stream, shared
        assert hub.subscribers() == 0


async def stop_reading(store: fv.Store, hub: FanOut) -> None:
    """Read the current state, then never again while 20 changes land."""
    async with merged(hub, {"stats": ("stats", store.stats.watch)}, backlog=2) as events:
        await events.receive()
        with anyio.fail_after(20):
            for index in range(20):  # each change is a new value, unread
                await store.groups.protect(
                    fv.GroupInfo(id=-2000 - index, title=f"G{index}"), OWNER)
            await anyio.sleep_forever()  # until the merge drops us


async def test_a_consumer_that_stops_reading_is_dropped(store: fv.Store) -> None:
    async with FanOut(linger_seconds=0) as hub:
        with pytest.raises(SubscriberDroppedError, match="behind"):
            await stop_reading(store, hub)


async def test_no_streams_is_an_error() -> None:
    async with FanOut() as hub:
        with pytest.raises(fv.InvalidInputError):
            async with merged(hub, {}):
                pass
