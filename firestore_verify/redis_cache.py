"""A membership cache shared by every bot process through Redis, that degrades to memory.

Several bot processes behind one bot token each keep their own
`MembershipCache`, so a user who joins a channel stays
"not a member" in the other processes until their entries expire.
`RedisMembershipCache` keeps the answers in Redis instead, where every
process sees them:

* one key per answer, ``verify:{user_id}:{channel_id}``, value ``1`` (member) or
  ``0``, expiring after the `CacheSettings` TTLs (600 s for
  members, 60 s for non-members by default) times a random factor in
  ``[1 - jitter, 1 + jitter]``;
* a small in-process layer in front keeps *member* answers for a few seconds
  (``local_ttl``, at most ``local_max_entries``): the members who chat are the hot
  path. Non-member answers are always read from Redis, so a join recorded by one
  process is seen by every other one on its next check;
* an invalidation (the "I have joined" button, a user leaving a channel) deletes the
  keys and publishes a message on the pub/sub channel ``verify:invalidations``; every
  process drops the in-process entries it names. Storing a non-member answer
  publishes too, so a process never keeps a stale "member" in front;
* **graceful degradation**: when Redis refuses or times out (``timeout``, 0.5 s by
  default), the cache goes `degraded` and works on this
  process's memory alone, exactly like ``MembershipCache``, without raising. It tries
  Redis again after a backoff (``retry_min`` doubling to ``retry_max``, one probe at
  a time) and through its pub/sub listener, and goes back to Redis by itself. The
  answers kept in memory meanwhile are dropped then, since another process may have
  invalidated them.

Typical use::

    async with RedisMembershipCache.from_url("redis://localhost:6379/0") as cache:
        checker = MembershipChecker(lookup, cache, logger)

The cache is also a drop-in `MembershipCache` for code that
uses its synchronous methods: ``get`` and ``set`` work on this process's memory (``set``
also writes to Redis in the background), ``invalidate`` and ``invalidate_channel``
drop the memory at once and reach Redis and the other processes in the background,
``clear`` empties this process's memory only. `MembershipChecker`
awaits the shared methods (`aget()`,
`aset()`, `ainvalidate()`).

redis-py is an optional dependency: ``pip install 'firestore-verify[redis]'``.
Use the cache on one asyncio event loop (redis-py's asyncio client).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from firestore_verify.cache import CacheSettings, CacheStats, MembershipCache, _validate
from firestore_verify.errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisCacheStats", "RedisMembershipCache"]

log = logging.getLogger("firestore_verify.redis_cache")

_T = TypeVar("_T")
_Pair = tuple["int | None", "int | None"]
"""(user_id, channel_id); ``None`` stands for "every user" or "every channel"."""

_INSTALL_HINT = "RedisMembershipCache needs redis-py: pip install 'firestore-verify[redis]'"
_LISTEN_POLL = 1.0
"""How often the pub/sub listener looks up from an idle connection (to notice it went stale)."""
_SCAN_COUNT = 500
"""Keys asked for per SCAN page when an invalidation names every user or every channel."""


if sys.version_info >= (3, 11):
    async def _bounded(awaitable: Awaitable[_T], seconds: float) -> _T:
        """``await awaitable`` for at most ``seconds`` (``TimeoutError`` beyond)."""
        async with asyncio.timeout(seconds):
            return await awaitable
else:
    async def _bounded(awaitable: Awaitable[_T], seconds: float) -> _T:
        """``await awaitable`` for at most ``seconds`` (``TimeoutError`` beyond)."""
        # asyncio.timeout is 3.11+; 3.10's wait_for may swallow a cancellation that
        # arrives just as the awaitable finishes, which the closing flag makes harmless.
        return await asyncio.wait_for(awaitable, seconds)


class _Unreached:
    """Redis was not asked (degraded, waiting for the backoff) or did not answer."""


_UNREACHED = _Unreached()


@dataclass(frozen=True)
class RedisCacheStats(CacheStats):
    """A snapshot of a `RedisMembershipCache`'s counters and state.

    ``hits`` counts answers from any layer (this process's memory or Redis),
    ``misses`` lookups that found nothing; ``size`` and ``evictions`` are this
    process's memory.
    """

    local_hits: int
    """Lookups answered from this process's memory (the layer in front, or while degraded)."""
    redis_hits: int
    """Lookups answered by Redis."""
    redis_errors: int
    """Redis calls that failed (refused, timed out, dropped) or were answered with an error."""
    invalidations_received: int
    """Invalidations received from other processes and applied to this one's memory."""
    degraded: bool
    """Redis is unreachable: answers come from this process's memory only."""
    listening: bool
    """Subscribed to the invalidation channel now."""
    last_error: str | None
    """The last Redis error, as ``"ExceptionClass: message"`` (``None`` before the first)."""


class RedisMembershipCache(MembershipCache):
    """Membership answers in Redis for every process, with a small in-process layer in front.

    Args:
        client: A ``redis.asyncio.Redis``. Give it short socket timeouts and no retries
            of its own (as `from_url()` does), or degradation waits for them.
        settings: The TTLs, jitter and the size of the memory used while degraded.
        key_prefix: Keys are ``{key_prefix}:{user_id}:{channel_id}`` and the pub/sub
            channel is ``{key_prefix}:invalidations``.
        local_ttl: Seconds a member answer is kept in front of Redis (capped by the
            settings' ``positive_ttl``); ``0`` turns the layer off.
        local_max_entries: Most answers kept in front of Redis.
        timeout: Longest one Redis call may take before it counts as a failure.
        retry_min: Seconds to wait, once degraded, before trying Redis again.
        retry_max: The wait doubles after each failed try, up to this.
        close_client: Close ``client`` in `aclose()` (what `from_url()` asks for).
        clock: Seconds, monotonic by default (TTLs of the memory layers and the backoff).
        rng: Draws the TTL jitter.
    """

    def __init__(
        self,
        client: Redis,
        settings: CacheSettings | None = None,
        *,
        key_prefix: str = "verify",
        local_ttl: float = 5.0,
        local_max_entries: int = 10_000,
        timeout: float = 0.5,
        retry_min: float = 0.5,
        retry_max: float = 30.0,
        close_client: bool = False,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        redis_errors = _redis_errors()  # fails early, with the install hint
        _validate("local_ttl", "positive_ttl", local_ttl)
        _validate("local_max_entries", "max_entries", local_max_entries)
        for name, value in (("timeout", timeout), ("retry_min", retry_min),
                            ("retry_max", retry_max)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigurationError(f"{name} must be a number > 0, got {value!r}")
        if retry_max < retry_min:
            raise ConfigurationError(
                f"retry_max ({retry_max}) must be at least retry_min ({retry_min})")
        self._local_ttl = float(local_ttl)
        self._local_max_entries = local_max_entries
        rng = rng or random.Random()
        # The layer in front of Redis: members only (negative_ttl 0 makes set() forget).
        # It exists before super().__init__, whose settings assignment resizes it.
        self._near = MembershipCache(CacheSettings(), clock=clock, rng=rng)
        # The inherited storage is the memory used while Redis is unreachable.
        super().__init__(settings, clock=clock, rng=rng)
        self.client = client
        """The ``redis.asyncio.Redis`` client."""
        self.key_prefix = key_prefix
        """The first part of every key, and of the pub/sub channel's name."""
        self.channel = f"{key_prefix}:invalidations"
        """The pub/sub channel invalidations travel on."""
        self._timeout = float(timeout)
        self._retry_min = float(retry_min)
        self._retry_max = float(retry_max)
        self._close_client = close_client
        self._errors: tuple[type[BaseException], ...] = (
            *redis_errors, OSError, asyncio.TimeoutError)
        self._id = uuid.uuid4().hex
        self._degraded = False
        self._backoff = self._retry_min
        self._retry_at = 0.0
        self._probing = False
        # Bumped whenever answers are invalidated here: a Redis read that started before
        # may not put its (possibly stale) answer in front.
        self._generation = 0
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self._listener_stale = False
        self._listen_delay = self._retry_min
        self._first_attempt: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._local_hits = 0
        self._redis_hits = 0
        self._missed = 0
        self._redis_error_count = 0
        self._received = 0
        self._last_error: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        settings: CacheSettings | None = None,
        *,
        timeout: float = 0.5,
        **options: Any,
    ) -> RedisMembershipCache:
        """A cache on a new client for ``url`` (``redis://``, ``rediss://`` or ``unix://``).

        The client gets ``timeout`` as its socket and connect timeouts and no retries
        (the cache falls back to memory instead), and is closed by `aclose()`.
        ``options`` go to the constructor (``local_ttl``, ``retry_min``...).
        """
        try:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise ConfigurationError(_INSTALL_HINT) from None
        try:
            client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                    retry=Retry(NoBackoff(), 0))
        except ValueError as exc:  # the message may quote the URL, password included
            raise ConfigurationError(
                "invalid Redis URL: use redis://[:password@]host[:port][/db], rediss://... "
                "or unix:///path/to/socket") from exc
        return cls(client, settings, timeout=timeout, close_client=True, **options)

    # -- settings -------------------------------------------------------------------

    @property
    def settings(self) -> CacheSettings:
        """TTLs and jitter of the Redis keys, and the size of the degraded-mode memory.

        Assigning new settings applies them to the next answers stored (keys already
        in Redis keep their TTL); call `clear()` to drop this process's memory too.
        """
        return self._settings

    @settings.setter
    def settings(self, settings: CacheSettings) -> None:
        self._settings = settings
        self._near.settings = CacheSettings(
            positive_ttl=min(self._local_ttl, settings.positive_ttl), negative_ttl=0,
            jitter=settings.jitter, max_entries=self._local_max_entries)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> RedisMembershipCache:
        """Subscribe to invalidations; returns once subscribed, or degraded if Redis is down.

        Never raises for an unreachable Redis: the listener keeps retrying with backoff.
        """
        if self._listener is None:
            self._first_attempt = asyncio.Event()
            self._closing = asyncio.Event()
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=f"fv-redis-cache-listener-{self._id[:8]}")
            with contextlib.suppress(asyncio.TimeoutError):
                await _bounded(self._first_attempt.wait(), 3 * self._timeout + 1)
        return self

    async def aclose(self) -> None:
        """Stop listening, finish the background writes, and close the client if owned."""
        listener, self._listener = self._listener, None
        if listener is not None:
            if self._closing is not None:
                self._closing.set()
            listener.cancel()
            await asyncio.wait([listener])  # the listener's CancelledError stays there
        if self._background:  # each one is bounded by ``timeout``
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._close_client:
            with contextlib.suppress(*self._errors):
                await self.client.aclose()

    async def __aenter__(self) -> RedisMembershipCache:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()

    # -- state ----------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """Redis is unreachable: answers come from, and go to, this process's memory only."""
        return self._degraded

    @property
    def status(self) -> Literal["redis", "degraded"]:
        """``redis``, or ``degraded`` while Redis is unreachable (for health checks)."""
        return "degraded" if self._degraded else "redis"

    @property
    def stats(self) -> RedisCacheStats:
        """Hits by layer, misses, Redis errors, invalidations received and the state."""
        base = super().stats
        return RedisCacheStats(
            hits=self._local_hits + self._redis_hits,
            misses=self._missed,
            evictions=base.evictions + self._near.stats.evictions,
            size=base.size + len(self._near),
            local_hits=self._local_hits,
            redis_hits=self._redis_hits,
            redis_errors=self._redis_error_count,
            invalidations_received=self._received,
            degraded=self._degraded,
            listening=self._listening,
            last_error=self._last_error,
        )

    def __len__(self) -> int:
        return super().__len__() + len(self._near)

    def key(self, user_id: int, channel_id: int) -> str:
        """The Redis key of one answer: ``verify:{user_id}:{channel_id}`` by default."""
        return f"{self.key_prefix}:{user_id}:{channel_id}"

    # -- the shared interface (what MembershipChecker awaits) -------------------------

    async def aget(self, user_id: int, channel_id: int) -> bool | None:
        """The answer from the layer in front, else Redis (this process's memory if degraded)."""
        if self._near.get(user_id, channel_id) is not None:
            self._local_hits += 1
            return True
        generation = self._generation
        value = await self._attempt(lambda: self.client.get(self.key(user_id, channel_id)))
        if isinstance(value, _Unreached):
            return self._count(super().get(user_id, channel_id), local=True)
        if value is None:
            return self._count(None, local=False)
        is_member = value in (b"1", "1")
        if is_member and generation == self._generation:
            self._near.set(user_id, channel_id, True)
        return self._count(is_member, local=False)

    async def aset(self, user_id: int, channel_id: int, is_member: bool) -> None:
        """Store the answer in Redis for every process (this process's memory if degraded).

        A non-member answer is also published, so that no process keeps the user as a
        member in front of Redis.
        """
        self._near.set(user_id, channel_id, is_member)  # a non-member answer drops the entry
        key = self.key(user_id, channel_id)
        ttl = self._ttl(is_member)
        message = None if is_member else self._message([(user_id, channel_id)])

        async def write() -> None:
            pipe = self.client.pipeline(transaction=False)
            if ttl > 0:
                pipe.set(key, "1" if is_member else "0", px=max(1, round(ttl * 1000)))
            else:  # caching of this kind of answer is off
                pipe.delete(key)
            if message is not None:
                pipe.publish(self.channel, message)
            await pipe.execute()

        if isinstance(await self._attempt(write), _Unreached):
            super().set(user_id, channel_id, is_member)

    async def ainvalidate(self, user_id: int, channel_ids: Iterable[int] | None = None) -> None:
        """Forget ``user_id``'s answers for ``channel_ids`` (all channels if ``None``), everywhere.

        Deletes the keys and tells every process to drop them from memory, before it
        returns. ``None`` has to scan the keyspace: name the channels where you can.
        """
        pairs: list[_Pair] = ([(user_id, None)] if channel_ids is None
                              else [(user_id, channel) for channel in channel_ids])
        self._drop_local(pairs)
        await self._invalidate_shared(pairs)

    async def ainvalidate_channel(self, channel_id: int) -> None:
        """Forget every user's answer for ``channel_id``, everywhere (scans the keyspace)."""
        pairs: list[_Pair] = [(None, channel_id)]
        self._drop_local(pairs)
        await self._invalidate_shared(pairs)

    # -- the MembershipCache interface (synchronous) ---------------------------------

    def get(self, user_id: int, channel_id: int) -> bool | None:
        """The answer this process holds in memory (Redis is not asked: use `aget()`)."""
        answer = self._near.get(user_id, channel_id)
        if answer is None:
            answer = super().get(user_id, channel_id)
        return self._count(answer, local=True)

    def set(self, user_id: int, channel_id: int, is_member: bool) -> None:
        """Remember the answer here at once, and in Redis in the background (see `aset()`)."""
        if not self._spawn(self.aset(user_id, channel_id, is_member)) or self._degraded:
            super().set(user_id, channel_id, is_member)
        self._near.set(user_id, channel_id, is_member)

    def invalidate(self, user_id: int, channel_id: int | None = None) -> None:
        """Forget here at once; Redis and the other processes follow in the background."""
        pairs: list[_Pair] = [(user_id, channel_id)]
        self._drop_local(pairs)
        self._spawn(self._invalidate_shared(pairs))

    def invalidate_channel(self, channel_id: int) -> None:
        """Forget every user's answer for ``channel_id`` here, then in Redis and elsewhere."""
        pairs: list[_Pair] = [(None, channel_id)]
        self._drop_local(pairs)
        self._spawn(self._invalidate_shared(pairs))

    def clear(self) -> None:
        """Forget everything this process holds in memory (Redis keeps its keys)."""
        super().clear()
        self._near.clear()
        self._generation += 1

    # -- internals ------------------------------------------------------------------

    def _count(self, answer: bool | None, *, local: bool) -> bool | None:
        if answer is None:
            self._missed += 1
        elif local:
            self._local_hits += 1
        else:
            self._redis_hits += 1
        return answer

    def _ttl(self, is_member: bool) -> float:
        ttl = self.settings.positive_ttl if is_member else self.settings.negative_ttl
        if ttl <= 0:
            return 0.0
        jitter = self.settings.jitter
        return ttl * self._rng.uniform(1 - jitter, 1 + jitter)

    def _message(self, pairs: list[_Pair]) -> str:
        return json.dumps({"from": self._id, "keys": pairs})

    def _drop_local(self, pairs: Iterable[_Pair]) -> None:
        self._generation += 1
        for user, channel in pairs:
            if user is not None:
                self._near.invalidate(user, channel)
                super().invalidate(user, channel)
            elif channel is not None:
                self._near.invalidate_channel(channel)
                super().invalidate_channel(channel)

    async def _invalidate_shared(self, pairs: list[_Pair]) -> None:
        message = self._message(pairs)
        exact = [self.key(u, c) for u, c in pairs if u is not None and c is not None]
        patterns = [self._pattern(u, c) for u, c in pairs if u is None or c is None]

        async def write() -> None:
            keys: list[str | bytes] = list(exact)
            for pattern in patterns:
                cursor: int = 0
                while True:
                    cursor, page = await self.client.scan(cursor, match=pattern,
                                                          count=_SCAN_COUNT)
                    keys.extend(page)
                    if not cursor:
                        break
            pipe = self.client.pipeline(transaction=False)
            if keys:
                pipe.delete(*keys)
            pipe.publish(self.channel, message)
            await pipe.execute()

        # A scan walks the whole keyspace: give it more than one call's time.
        await self._attempt(write, timeout=self._timeout * (20 if patterns else 1))

    def _pattern(self, user_id: int | None, channel_id: int | None) -> str:
        prefix = "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in self.key_prefix)
        user = "*" if user_id is None else str(user_id)
        channel = "*" if channel_id is None else str(channel_id)
        return f"{prefix}:{user}:{channel}"

    async def _attempt(self, operation: Callable[[], Awaitable[_T]], *,
                       timeout: float | None = None) -> _T | _Unreached:
        """Run one Redis operation, or not (degraded and waiting); failures degrade."""
        probe = False
        if self._degraded:
            if self._probing or self._clock() < self._retry_at:
                return _UNREACHED
            probe = self._probing = True  # only one call at a time finds out
        try:
            result = await _bounded(operation(), timeout or self._timeout)
        except self._errors as exc:
            self._failed(exc, probe=probe)
            return _UNREACHED
        finally:
            if probe:
                self._probing = False
        if probe:
            self._recovered()
        return result

    def _failed(self, exc: BaseException, *, probe: bool) -> None:
        self._redis_error_count += 1
        self._last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not self._degraded:
            self._degraded = True
            self._backoff = self._retry_min
            self._retry_at = self._clock() + self._backoff
            self._listener_stale = True  # its connection may be as dead as this one
            log.warning("Redis unreachable (%s): the membership cache uses this process's "
                        "memory until it is back", self._last_error)
        elif probe:
            self._backoff = min(self._backoff * 2, self._retry_max)
            self._retry_at = self._clock() + self._backoff

    def _recovered(self) -> None:
        if not self._degraded:
            return
        self._degraded = False
        self._backoff = self._retry_min
        # Other processes may have invalidated what this one kept meanwhile.
        self.clear()
        log.info("Redis reachable again: the membership cache is shared again")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> bool:
        """Run ``coroutine`` in the background (awaited by `aclose()`); False if no loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coroutine.close()
            return False
        task = loop.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return True

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("membership cache background write failed", exc_info=task.exception())

    async def _listen(self) -> None:
        """Apply the invalidations other processes publish; reconnect with backoff."""
        closing = self._closing
        assert closing is not None, "start() creates the event before the listener"
        while not closing.is_set():
            pubsub = self.client.pubsub()
            try:
                await _bounded(pubsub.subscribe(self.channel), self._timeout)
                confirmed = await _bounded(pubsub.get_message(timeout=self._timeout),
                                           2 * self._timeout)
                if confirmed is None or confirmed.get("type") != "subscribe":
                    raise asyncio.TimeoutError("no subscription confirmation from Redis")
                self._subscribed()
                while not (self._listener_stale or closing.is_set()):
                    message = await _bounded(pubsub.get_message(timeout=_LISTEN_POLL),
                                             _LISTEN_POLL + self._timeout)
                    if message is None:
                        continue
                    if message.get("type") == "subscribe":  # redis-py resubscribed by itself
                        self._subscribed()
                    elif message.get("type") == "message":
                        self._received_message(message.get("data"))
            except self._errors as exc:
                self._failed(exc, probe=False)
                self._listen_delay = min(self._listen_delay * 2, self._retry_max)
            except Exception:  # a bug must not end the invalidations for good
                log.exception("the membership cache's invalidation listener failed")
                self._listen_delay = min(self._listen_delay * 2, self._retry_max)
            finally:
                self._listening = False
                if self._first_attempt is not None:
                    self._first_attempt.set()
                with contextlib.suppress(*self._errors):
                    await _bounded(
                        pubsub.aclose(),  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                        self._timeout)
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await _bounded(closing.wait(), self._listen_delay)

    def _subscribed(self) -> None:
        self._listening = True
        self._listener_stale = False
        self._listen_delay = self._retry_min
        if self._first_attempt is not None:
            self._first_attempt.set()
        if self._degraded:
            self._recovered()
        else:  # messages published while unsubscribed are lost: start afresh
            self._near.clear()
            self._generation += 1

    def _received_message(self, data: object) -> None:
        try:
            if not isinstance(data, (bytes, str)):
                raise TypeError(f"expected text, got {type(data).__name__}")
            body = json.loads(data)
            if body["from"] == self._id:
                return  # dropped here already
            pairs = [(_id_or_none(u), _id_or_none(c)) for u, c in body["keys"]]
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("ignored a malformed invalidation on %s: %s", self.channel, exc)
            return
        self._drop_local(pairs)
        self._received += 1


def _id_or_none(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not a Telegram id: {value!r}")
    return value


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import RedisError
    except ImportError:
        raise ConfigurationError(_INSTALL_HINT) from None
    return (RedisError,)
