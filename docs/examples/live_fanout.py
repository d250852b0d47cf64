"""Many subscribers, one listener: what an SSE endpoint per browser shares."""

import anyio

import firestore_verify as fv


async def main(store: fv.Store) -> list[int]:
    async with fv.FanOut() as hub:  # one per process; closing it closes every stream
        async with (hub.subscribe("stats", store.stats.watch) as first,
                    hub.subscribe("stats", store.stats.watch) as second):
            assert (await first.next()).total_groups == 0
            assert (await second.next()).total_groups == 0
            assert hub.stats.streams == 1  # one listener for both
            await store.groups.protect(fv.GroupInfo(id=-1001, title="Chat"),
                                       fv.OwnerInfo(id=42), [fv.ChannelInfo(id=-2001,
                                                                            title="News")])
            seen = []
            with anyio.fail_after(10):
                for updates in (first, second):
                    async for stats in updates:  # the newest state; a lagging one is dropped
                        if stats.total_groups == 1:
                            seen.append(stats.total_groups)
                            break
        assert hub.subscribers("stats") == 0  # the stream lingers a moment for reconnects
    return seen
