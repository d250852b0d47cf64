"""Live streams: Firestore ``on_snapshot`` listeners as anyio async iterators.

Python's listeners run callbacks on their own threads. `LiveStream`
hands each snapshot to the event loop with ``call_soon_threadsafe`` and keeps
only the latest value, so a slow consumer gets the newest state rather than
an ever-growing queue. Closing the iterator unsubscribes the listeners (their
threads end); a listener that dies while the stream is open is re-created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["LiveStream", "Source"]

T = TypeVar("T")
log = logging.getLogger("firestore_verify.live")

Source = Callable[[Callable[..., None]], Any]
"""Starts a listener: takes the snapshot callback, returns the ``Watch``."""


class LiveStream(Generic[T]):
    """An async iterator over the latest combined value of one or more listeners.

    Each source yields a list of document snapshots (one for a document
    listener, the result set for a query listener); ``combine`` turns the
    latest list of every source into the value. The first value comes once
    every source has reported.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        combine: Callable[[list[list[Any]]], T],
        *,
        health_check_seconds: float = 1.0,
    ) -> None:
        self._sources = list(sources)
        self._combine = combine
        self._health_check = health_check_seconds
        self._latest: list[list[Any] | None] = [None] * len(self._sources)
        self._watches: list[Any] = [None] * len(self._sources)
        self._version = 0
        self._seen = 0
        self._value: T | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self.reconnects = 0
        """How many times a dead listener was re-created."""

    # -- thread side ----------------------------------------------------------------
    @property
    def sources(self) -> list[Source]:
        """The listeners this stream starts: compose them into a larger stream."""
        return list(self._sources)

    def combine(self, snapshots: list[list[Any]]) -> T:
        """The value of `sources`' latest snapshots (pure: no listener, no I/O)."""
        return self._combine(snapshots)

    def _callback(self, index: int) -> Callable[..., None]:
        def on_snapshot(docs: Any, _changes: Any, _read_time: Any) -> None:
            snapshots = list(docs) if isinstance(docs, list | tuple) else [docs]
            loop = self._loop
            if loop is None or loop.is_closed() or self._closed:
                return
            # The loop may close between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._deliver, index, snapshots)

        return on_snapshot

    # -- loop side ------------------------------------------------------------------
    def _deliver(self, index: int, snapshots: list[Any]) -> None:
        self._latest[index] = snapshots
        if any(item is None for item in self._latest):
            return
        try:
            self._value = self._combine([item or [] for item in self._latest])
        except Exception as exc:  # surfaced to the consumer, not lost in a thread
            self._error = exc
        self._version += 1
        if self._wakeup is not None:
            self._wakeup.set()

    async def _subscribe(self, index: int) -> None:
        self._watches[index] = await anyio.to_thread.run_sync(
            self._sources[index], self._callback(index)
        )

    async def start(self) -> LiveStream[T]:
        """Start every listener (``async with`` and iteration call it for you)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._wakeup = asyncio.Event()
            for index in range(len(self._sources)):
                await self._subscribe(index)
        return self

    async def _revive_dead(self) -> None:
        for index, watch in enumerate(self._watches):
            if watch is not None and getattr(watch, "_closed", False) and not self._closed:
                log.warning("listener %d stopped; re-creating it", index)
                self.reconnects += 1
                await self._subscribe(index)

    async def next(self) -> T:
        """The next value: the newest one, skipping any the consumer was too slow for."""
        await self.start()
        assert self._wakeup is not None
        while True:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._version > self._seen:
                self._seen = self._version
                return self._value  # type: ignore[return-value]
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            with anyio.move_on_after(self._health_check):
                await self._wakeup.wait()
            await self._revive_dead()

    def __aiter__(self) -> LiveStream[T]:
        return self

    async def __anext__(self) -> T:
        return await self.next()

    async def aclose(self) -> None:
        """Stop every listener and its thread; iteration then ends."""
        if self._closed:
            return
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.set()
        watches, self._watches = self._watches, [None] * len(self._sources)
        # Shielded: closing during cancellation (shutdown) must still stop the
        # listeners, or their threads fail once the client's channel closes.
        with anyio.CancelScope(shield=True):
            for watch in watches:
                if watch is not None:
                    await anyio.to_thread.run_sync(watch.unsubscribe)

    async def __aenter__(self) -> LiveStream[T]:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def document_source(reference: Any) -> Source:
    """A source listening to one (sync-client) document reference."""
    return lambda callback: reference.on_snapshot(callback)


def query_source(query: Any) -> Source:
    """A source listening to a (sync-client) query's result set."""
    return lambda callback: query.on_snapshot(callback)
