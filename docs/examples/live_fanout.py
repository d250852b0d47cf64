"""Many subscribers, one listener: what an SSE endpoint per browser shares."""

import anyio

import firestore_verify as fv


async def main(store: fv.Store) -> list[int]:
    async with fv.FanOut() as hub:  # one per process; closing it closes every stream
        async with (hub.subscribe("stats", store.stats.watch) as first,
                    hub.subscribe("stats", store.stats.watch) as second):
            print("total_groups:", [(await updates.next()).total_groups
                                    for updates in (first, second)])
            print("listeners:", hub.stats.streams)  # one for both
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
            print("total_groups after protect():", seen)
        # No subscriber left; the stream itself lingers a moment for reconnects.
        print("subscribers left:", hub.subscribers("stats"))
    return seen
