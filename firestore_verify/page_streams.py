"""One event stream per page: several fan-out streams merged into named events.

Browsers allow about six connections per host, so a page opens **one** event
stream carrying everything it shows (``stats``, ``activity``, ``groups`` ...).
`merged()` subscribes to each stream through a `FanOut`
(so listeners stay shared by every open page) and yields ``(name, value)``
pairs, each stream's current state first::

    streams = {"stats": ("stats", store.stats.watch),
               "activity": ("activity:50", lambda: store.analytics.activity.watch(limit=50))}
    async with merged(hub, streams) as events:
        async for name, value in events:
            ...  # send an SSE event called `name`

A subscriber dropped for being slow, or a stream that fails, ends the whole
merge with `SubscriberDroppedError`: the page
reconnects and gets the current state of everything again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from firestore_verify.errors import InvalidInputError
from firestore_verify.fanout import FanOut, SubscriberDroppedError, Subscription
from firestore_verify.live import LiveStream

__all__ = ["StreamSpec", "merged"]

StreamSpec = tuple[str, Callable[[], LiveStream[Any]]]
"""A page's stream: the fan-out key and the factory of its `LiveStream`."""


@asynccontextmanager
async def merged(
    hub: FanOut, streams: Mapping[str, StreamSpec], *, backlog: int = 16
) -> AsyncIterator[MemoryObjectReceiveStream[tuple[str, Any]]]:
    """Subscribe to every stream of ``streams``; yield a receiver of ``(name, value)``.

    At most ``backlog`` unread events per stream wait for the consumer; one
    more and the merge ends with ``SubscriberDroppedError`` (``reason="slow"``):
    nothing ever waits for a slow consumer.

    Raises:
        InvalidInputError: when ``streams`` is empty.
        SubscriberDroppedError: on leaving, when a subscription was dropped or
            its stream failed.
    """
    if not streams:
        raise InvalidInputError("a page needs at least one stream.")
    if not 1 <= backlog <= 10_000:
        raise InvalidInputError(f"backlog must be between 1 and 10000, not {backlog}.")
    send, receive = anyio.create_memory_object_stream[tuple[str, Any]](
        max_buffer_size=backlog * len(streams))
    failures: list[SubscriberDroppedError] = []
    async with AsyncExitStack() as stack:
        subscriptions = {
            name: await stack.enter_async_context(hub.subscribe(key, factory))
            for name, (key, factory) in streams.items()
        }
        async with anyio.create_task_group() as tasks, send, receive:

            async def pump(name: str, subscription: Subscription[Any],
                           out: MemoryObjectSendStream[tuple[str, Any]]) -> None:
                async with out:
                    try:
                        async for value in subscription:
                            try:
                                out.send_nowait((name, value))
                            except anyio.WouldBlock:  # never wait for a slow consumer
                                raise SubscriberDroppedError(
                                    subscription.key, "slow",
                                    f"the page fell {backlog * len(streams)} events behind",
                                ) from None
                    except SubscriberDroppedError as exc:
                        failures.append(exc)
                        tasks.cancel_scope.cancel()  # the consumer's read is cancelled too

            for name, subscription in subscriptions.items():
                tasks.start_soon(pump, name, subscription, send.clone())
            try:
                yield receive
            finally:
                tasks.cancel_scope.cancel()
    if failures:
        raise failures[0]
