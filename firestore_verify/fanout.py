r"""Live fan-out: one Firestore listener per stream and process, shared by every subscriber.

A server that pushes live views to many browsers (an SSE endpoint per page)
must not open one listener per connection: listeners cost a read per document
they deliver and a thread each. `FanOut` keeps one `LiveStream`
per *key* and hands every value to each subscriber of that key::

    hub = FanOut()

    async def stats_events():  # one per connected browser
        async with hub.subscribe("stats", store.stats.watch) as updates:
            async for stats in updates:
                yield f"data: {stats.model_dump_json()}\n\n"

Semantics, and why:

* **Sharing.** The factory is called when the first subscriber of a key
  arrives; later subscribers share its stream. A key must always name the same
  stream (``"activity:error:50"``, not ``"activity"`` for two queries).
* **Current state first.** A subscriber joining a stream that already has a
  value gets it at once, then every later value: a reconnecting browser is up
  to date immediately, with no extra Firestore read.
* **Conflation.** Every value of a `LiveStream` is a whole state (the
  stats, the list of latest events), never a delta, so skipping intermediate
  values is safe: by default a subscriber that falls behind reads only the
  newest value (``conflate=False`` keeps every value, in order).
* **Slow subscribers are dropped.** A subscriber that has ``max_queue``
  values unread when another arrives is dropped: its iteration raises
  `SubscriberDroppedError` (``reason="slow"``). Nothing ever waits for
  a subscriber, so neither the listener nor the others slow down. An SSE
  endpoint closes the connection; the browser reconnects and gets the current
  state first.
* **Linger.** When the last subscriber leaves, the stream stays open for
  ``linger_seconds`` (default 5) before its listener is closed. Browsers
  reconnect in bursts (a page reload, ``EventSource``'s ~3 s retry, a dropped
  slow subscriber): re-creating the listener would re-read every watched
  document and make the browser wait for the first snapshot, while an idle
  listener costs nothing but its thread for a few seconds. ``0`` closes at
  once (before the leaving subscriber's ``async with`` returns).
* **Failure.** A stream that raises is closed; its subscribers get
  `SubscriberDroppedError` (``reason="failed"``, the error as its
  cause), and the next subscriber starts a fresh stream. A stream that ends
  ends its subscribers' iterations. Listeners that die quietly are already
  revived by `LiveStream` itself.

Everything runs on the event loop (``LiveStream`` bridges the listener
threads); a hub is not meant to be shared between threads or loops.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import anyio

from firestore_verify.errors import InvalidInputError
from firestore_verify.errors import SubscriberDroppedError as SubscriberDroppedError
from firestore_verify.live import LiveStream

__all__ = ["FanOut", "FanOutStats", "Subscription"]

T = TypeVar("T")
log = logging.getLogger("firestore_verify.fanout")

DropReason = Literal["slow", "failed"]
"""Why a subscription was dropped."""


@dataclass(frozen=True)
class FanOutStats:
    """A snapshot of a `FanOut`'s state and counters, for metrics."""

    streams: int
    """Open streams (one Firestore listener set each), lingering ones included."""
    subscribers: dict[str, int] = field(default_factory=dict)
    """Subscribers by stream key (keys of open streams only)."""
    started: int = 0
    """Streams started since the hub was created (factory calls)."""
    dropped: int = 0
    """Subscribers dropped for being slow."""
    failed: int = 0
    """Streams that raised (their subscribers were dropped with ``reason="failed"``)."""


class _Channel:
    """One key's shared stream, its pump task and its subscribers."""

    def __init__(self, key: str, stream: LiveStream[Any]) -> None:
        self.key = key
        self.stream = stream
        self.subscribers: set[Subscription[Any]] = set()
        self.latest: Any = None
        self.has_value = False
        self.task: asyncio.Task[None] | None = None
        self.linger: asyncio.TimerHandle | None = None
        self.finished = False


class Subscription(Generic[T]):
    """One subscriber's view of a shared stream: an async iterator of its values.

    Get one from `FanOut.subscribe()` and use it with ``async with`` (or
    call `aclose()`): leaving releases the subscriber's share of the stream.
    """

    def __init__(self, hub: FanOut, key: str, factory: Callable[[], LiveStream[T]]) -> None:
        self._hub = hub
        self._factory = factory
        self.key = key
        """The stream key."""
        self._channel: _Channel | None = None
        self._queue: deque[T] = deque()
        self._unread = 0
        self._wakeup = asyncio.Event()
        self._error: BaseException | None = None
        self._ended = False
        self._closed = False
        self.dropped: DropReason | None = None
        """Why the hub dropped this subscription (``None`` while it was not dropped)."""

    # -- hub side (loop thread, never awaits) -------------------------------------------------
    def _offer(self, value: T, max_queue: int, conflate: bool) -> bool:
        """Queue ``value``; ``False`` when the subscriber is too far behind to take it."""
        if self._unread >= max_queue:
            return False
        self._unread += 1
        if conflate:
            self._queue.clear()
        self._queue.append(value)
        self._wakeup.set()
        return True

    def _finish(self, error: BaseException | None) -> None:
        """End the iteration: with ``error`` raised once, or cleanly."""
        self._channel = None
        self._queue.clear()
        self._unread = 0
        if error is not None and not self._ended:
            self._error = error
        self._ended = True
        self._wakeup.set()

    # -- subscriber side ----------------------------------------------------------------------
    def _join(self) -> None:
        if self._channel is None and not self._ended and not self._closed:
            self._hub._join(self, self._factory)

    async def next(self) -> T:
        """The next value (the current state first).

        Raises:
            SubscriberDroppedError: when the hub dropped the subscriber (too slow)
                or the shared stream failed.
            StopAsyncIteration: once the stream ended, the hub closed or the
                subscription was closed.

        """
        self._join()
        while True:
            if self._queue:
                value = self._queue.popleft()
                self._unread = len(self._queue)
                return value
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._ended or self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        return await self.next()

    async def aclose(self) -> None:
        """Leave the stream; the last subscriber to leave closes it (after the linger)."""
        if self._closed:
            return
        self._closed = True
        channel, self._channel = self._channel, None
        self._queue.clear()
        self._wakeup.set()
        if channel is not None:
            await self._hub._leave(channel, self)

    async def __aenter__(self) -> Subscription[T]:
        self._join()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class FanOut:
    """Shares one `LiveStream` per key among every subscriber of this process.

    Args:
        max_queue: Unread values a subscriber may have before it is dropped
            (1 to 10 000). With conflation only the newest is kept, but every
            value it missed counts.
        conflate: Keep only the newest unread value per subscriber (safe for
            every ``LiveStream``: each value is a whole state).
        linger_seconds: How long a stream with no subscribers stays open for
            the next one (0 to 3600; ``0`` closes it at once).

    """

    def __init__(
        self, *, max_queue: int = 16, conflate: bool = True, linger_seconds: float = 5.0
    ) -> None:
        if isinstance(max_queue, bool) or not 1 <= max_queue <= 10_000:
            raise InvalidInputError(f"max_queue must be between 1 and 10000, not {max_queue!r}.")
        if not 0 <= linger_seconds <= 3600:
            raise InvalidInputError(
                f"linger_seconds must be between 0 and 3600, not {linger_seconds!r}.")
        self._max_queue = max_queue
        self._conflate = conflate
        self._linger = float(linger_seconds)
        self._channels: dict[str, _Channel] = {}
        self._started = 0
        self._dropped = 0
        self._failed = 0

    # -- public ---------------------------------------------------------------------------------
    def subscribe(self, key: str, factory: Callable[[], LiveStream[T]]) -> Subscription[T]:
        """A subscription to the stream ``key``, started with ``factory()`` if none is open.

        The subscriber joins on ``async with`` (or its first ``next()``), so
        ``factory`` runs only then, and only for the first subscriber of ``key``.

        Args:
            key: Names the stream, e.g. ``"stats"`` or ``"activity:error:50"``;
                every subscriber of a key must mean the same stream.
            factory: Creates the stream, e.g. ``store.stats.watch``.

        """
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"a stream key is a non-empty string, not {key!r}.")
        return Subscription(self, key, factory)

    @property
    def streams(self) -> int:
        """Open streams, lingering ones included (each holds its listeners)."""
        return len(self._channels)

    def subscribers(self, key: str | None = None) -> int:
        """Subscribers of ``key``, or of every stream when ``key`` is ``None``."""
        if key is None:
            return sum(len(c.subscribers) for c in self._channels.values())
        channel = self._channels.get(key)
        return 0 if channel is None else len(channel.subscribers)

    @property
    def stats(self) -> FanOutStats:
        """Open streams, subscribers by key, and the started/dropped/failed counters."""
        return FanOutStats(
            streams=len(self._channels),
            subscribers={k: len(c.subscribers) for k, c in sorted(self._channels.items())},
            started=self._started, dropped=self._dropped, failed=self._failed,
        )

    async def aclose(self) -> None:
        """Close every open stream; their subscribers' iterations end.

        The hub stays usable: a later subscriber starts a fresh stream.
        """
        channels = list(self._channels.values())
        self._channels.clear()
        for channel in channels:
            self._cancel(channel)
        await self._wait(channels)

    async def __aenter__(self) -> FanOut:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- subscriptions --------------------------------------------------------------------------
    def _join(self, subscription: Subscription[T], factory: Callable[[], LiveStream[T]]) -> None:
        channel = self._channels.get(subscription.key)
        if channel is None:
            channel = _Channel(subscription.key, factory())
            self._channels[channel.key] = channel
            self._started += 1
            task = asyncio.get_running_loop().create_task(self._pump(channel))
            task.add_done_callback(lambda _: self._finish(channel, None))
            channel.task = task
        if channel.linger is not None:
            channel.linger.cancel()
            channel.linger = None
        channel.subscribers.add(subscription)
        subscription._channel = channel
        if channel.has_value:
            subscription._offer(channel.latest, self._max_queue, self._conflate)

    async def _leave(self, channel: _Channel, subscription: Subscription[Any]) -> None:
        channel.subscribers.discard(subscription)
        if not channel.subscribers and not channel.finished:
            self._idle(channel)
            if self._linger == 0:
                await self._wait([channel])

    def _idle(self, channel: _Channel) -> None:
        """``channel`` lost its last subscriber: close it now or after the linger."""
        if self._linger == 0:
            self._expire(channel)
        elif channel.linger is None:
            channel.linger = asyncio.get_running_loop().call_later(
                self._linger, self._expire, channel)

    def _expire(self, channel: _Channel) -> None:
        channel.linger = None
        if channel.subscribers or channel.finished:
            return
        if self._channels.get(channel.key) is channel:
            del self._channels[channel.key]
        self._cancel(channel)

    # -- the pump -------------------------------------------------------------------------------
    async def _pump(self, channel: _Channel) -> None:
        """Read the shared stream and offer every value to every subscriber."""
        cause: Exception | None = None
        try:
            async for value in channel.stream:
                channel.latest, channel.has_value = value, True
                for subscription in list(channel.subscribers):
                    if not subscription._offer(value, self._max_queue, self._conflate):
                        self._drop(channel, subscription)
        except Exception as exc:  # the stream failed: its subscribers must hear of it
            self._failed += 1
            log.warning("live stream %r failed: %r", channel.key, exc)
            cause = exc
        finally:
            self._finish(channel, cause)
            await channel.stream.aclose()  # shielded inside: the listener threads stop

    def _drop(self, channel: _Channel, subscription: Subscription[Any]) -> None:
        self._dropped += 1
        channel.subscribers.discard(subscription)
        subscription.dropped = "slow"
        subscription._finish(SubscriberDroppedError(
            channel.key, "slow", f"the subscriber fell {self._max_queue} values behind"))
        log.info("dropped a slow subscriber of %r", channel.key)
        if not channel.subscribers:
            self._idle(channel)

    def _finish(self, channel: _Channel, cause: Exception | None) -> None:
        """The stream is done (ended, failed or closed): release it and its subscribers."""
        if channel.finished:
            return
        channel.finished = True
        if channel.linger is not None:
            channel.linger.cancel()
            channel.linger = None
        if self._channels.get(channel.key) is channel:
            del self._channels[channel.key]
        subscriptions, channel.subscribers = channel.subscribers, set()
        for subscription in subscriptions:
            error = None
            if cause is not None:  # one error per subscriber: each raises its own
                subscription.dropped = "failed"
                error = SubscriberDroppedError(channel.key, "failed",
                                               f"the stream failed ({cause!r})")
                error.__cause__ = cause
            subscription._finish(error)

    def _cancel(self, channel: _Channel) -> None:
        if channel.task is not None and not channel.task.done():
            channel.task.cancel()

    @staticmethod
    async def _wait(channels: list[_Channel]) -> None:
        tasks = [c.task for c in channels if c.task is not None and not c.task.done()]
        if tasks and asyncio.current_task() not in tasks:
            # Shielded: leaving during cancellation (a closed connection) must still
            # let the listener threads stop.
            with anyio.CancelScope(shield=True):
                await asyncio.wait(tasks)
