"""Server-Sent Events from a FanOut hub: each browser's endpoint shares one listener."""

import json
from collections.abc import AsyncGenerator

import anyio

import firestore_verify as fv

# --8<-- [start:sse]
hub = fv.FanOut()  # one per process, closed on shutdown (await hub.aclose())


async def stats_events(store: fv.Store) -> AsyncGenerator[str, None]:
    try:
        async with hub.subscribe("stats", store.stats.watch) as updates:
            async for stats in updates:
                yield f"data: {stats.model_dump_json()}\n\n"
    except fv.SubscriberDroppedError:
        return  # close the connection: EventSource reconnects and gets the current state
# --8<-- [end:sse]


async def main(store: fv.Store) -> list[int]:
    events = stats_events(store)  # what one browser's endpoint sends
    seen: list[int] = []
    try:
        with anyio.fail_after(10):
            async for event in events:
                assert event.startswith("data: ")
                assert event.endswith("\n\n")
                seen.append(json.loads(event.removeprefix("data: "))["total_groups"])
                if len(seen) == 1:  # the current state first, then every change
                    print("first event: total_groups", seen[0])
                    await store.groups.protect(fv.GroupInfo(id=-1001, title="Chat"),
                                               fv.OwnerInfo(id=42),
                                               [fv.ChannelInfo(id=-2001, title="News")])
                elif seen[-1] == 1:
                    print("after protect(): total_groups", seen[-1])
                    break
    finally:
        await events.aclose()  # the browser went away: its subscription ends
        # No subscriber left; the stream lingers `linger_seconds` for a reconnect.
        print("subscribers:", hub.subscribers("stats"), "streams:", hub.stats.streams)
        await hub.aclose()  # on shutdown
        print("after hub.aclose(): streams:", hub.stats.streams)
    return seen
