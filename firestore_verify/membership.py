"""Membership checks: the cache in front of the messenger, every check logged as an event.

`MembershipChecker` is what every force-subscribe bot does on each
message: for each enforced channel of a group, ask the cache, else the
messenger (a ``lookup`` coroutine the bot supplies, e.g. around Telegram's
``getChatMember``), and record one verification event per channel. It is
**fail safe**: a lookup that raises counts as *not verified* and is logged with
status ``error`` and the exception's class name as ``error_type``.

The cache is a `MembershipCache` in this process's memory,
or one shared by every process, such as
`RedisMembershipCache`: a cache that also has
the asynchronous methods of `SharedMembershipCache` is awaited through them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from firestore_verify.cache import MembershipCache
from firestore_verify.logger import VerificationLogger
from firestore_verify.models import ChannelRef, ProtectedGroup, Status, Verification

__all__ = [
    "ChannelResult",
    "CheckResult",
    "MembershipChecker",
    "MembershipLookup",
    "SharedMembershipCache",
]

MembershipLookup = Callable[[int, int], Awaitable[bool]]
"""``await lookup(user_id, channel_id)``: whether the user is a member of the channel."""


@runtime_checkable
class SharedMembershipCache(Protocol):
    """A cache whose answers live outside the process (Redis), asked asynchronously.

    `MembershipChecker` awaits these methods when its cache has them, and
    calls `MembershipCache`'s synchronous ones otherwise.
    """

    async def aget(self, user_id: int, channel_id: int) -> bool | None:
        """The cached answer, or ``None`` when there is none."""
        ...

    async def aset(self, user_id: int, channel_id: int, is_member: bool) -> None:
        """Remember ``is_member`` for every process."""
        ...

    async def ainvalidate(self, user_id: int, channel_ids: Iterable[int] | None = None) -> None:
        """Forget the user's answers for ``channel_ids`` (all if ``None``) in every process."""
        ...


class _InProcess:
    """`SharedMembershipCache` over a cache in this process's memory."""

    def __init__(self, cache: MembershipCache) -> None:
        self.cache = cache

    async def aget(self, user_id: int, channel_id: int) -> bool | None:
        return self.cache.get(user_id, channel_id)

    async def aset(self, user_id: int, channel_id: int, is_member: bool) -> None:
        self.cache.set(user_id, channel_id, is_member)

    async def ainvalidate(self, user_id: int, channel_ids: Iterable[int] | None = None) -> None:
        if channel_ids is None:
            self.cache.invalidate(user_id)
        for channel_id in channel_ids or ():
            self.cache.invalidate(user_id, channel_id)


@dataclass(frozen=True)
class ChannelResult:
    """The outcome of one user's check in one enforced channel."""

    channel: ChannelRef
    """The enforced channel checked."""
    status: Status
    """``success`` (a member), ``failed`` (not a member) or ``error`` (the lookup raised)."""
    cached: bool
    """The answer came from the cache, not the messenger."""
    latency_ms: float
    """How long the check took, cache lookup included, in milliseconds."""
    error_type: str | None = None
    """The exception class name when the lookup failed (status ``error``)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome for one user in one group: one result per enforced channel."""

    user_id: int
    """Telegram user id of the user checked."""
    group_id: int
    """Telegram chat id of the group."""
    channels: list[ChannelResult]
    """One result per enforced channel of the group, in the group's order."""

    @property
    def verified(self) -> bool:
        """Member of every enforced channel (an error counts as not a member)."""
        return all(r.status is Status.SUCCESS for r in self.channels)

    @property
    def missing(self) -> list[ChannelRef]:
        """The channels the user must (re)join, or that could not be checked."""
        return [r.channel for r in self.channels if r.status is not Status.SUCCESS]


class MembershipChecker:
    """Checks users against a group's enforced channels, with a cache, logging every check.

    Args:
        lookup: Asks the messenger whether a user is a member of a channel.
        cache: Remembers answers (positive and negative TTLs): in this process's
            memory, or shared by every process when it implements
            `SharedMembershipCache` (e.g. ``RedisMembershipCache``).
        logger: Receives one `Verification` per channel
            checked; when its buffer is full the check waits for room
            (backpressure) rather than dropping the event.
        on_result: Called with every `ChannelResult` (metrics, log lines).
    """

    def __init__(
        self,
        lookup: MembershipLookup,
        cache: MembershipCache,
        logger: VerificationLogger,
        *,
        on_result: Callable[[int, int, ChannelResult], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._lookup = lookup
        self.cache = cache
        """The cache, as given."""
        self._shared: SharedMembershipCache = (
            cache if isinstance(cache, SharedMembershipCache) else _InProcess(cache))
        self._logger = logger
        self._on_result = on_result
        self._clock = clock

    async def check(self, user_id: int, group: ProtectedGroup, *,
                    fresh: bool = False) -> CheckResult:
        """Check ``user_id`` in every channel of ``group``, concurrently.

        ``fresh`` drops the user's cached answers for the group's channels first
        (after "I have joined"), as `invalidate()` does, before asking again.
        """
        if fresh:
            await self._shared.ainvalidate(
                user_id, [ref.channel_id for ref in group.enforced_channels])
        results = await asyncio.gather(
            *(self._check_channel(user_id, group.id, ref) for ref in group.enforced_channels)
        )
        return CheckResult(user_id, group.id, list(results))

    async def invalidate(self, user_id: int, channel_id: int | None = None) -> None:
        """Forget the user's answer for ``channel_id`` (every channel if ``None``).

        For a ``chat_member`` update (the user joined or left a channel). This
        process forgets it at once. With ``RedisMembershipCache``, the keys in Redis
        are also deleted and an invalidation is published before this returns; other
        processes drop the answer from their layer in front of Redis when the message
        arrives (typically within a millisecond). While a process's cache is degraded
        (Redis unreachable), its invalidations reach neither Redis nor the other
        processes, and it receives none: a stale answer then lives up to its TTL.
        """
        await self._shared.ainvalidate(user_id, None if channel_id is None else [channel_id])

    async def _check_channel(self, user_id: int, group_id: int,
                             ref: ChannelRef) -> ChannelResult:
        started = self._clock()
        cached = await self._shared.aget(user_id, ref.channel_id)
        error_type: str | None = None
        if cached is not None:
            status = Status.SUCCESS if cached else Status.FAILED
        else:
            try:
                joined = await self._lookup(user_id, ref.channel_id)
            except Exception as exc:  # fail safe: any failure blocks the user
                error_type = type(exc).__name__
                status = Status.ERROR
            else:
                await self._shared.aset(user_id, ref.channel_id, joined)
                status = Status.SUCCESS if joined else Status.FAILED
        latency_ms = (self._clock() - started) * 1000
        result = ChannelResult(ref, status, cached is not None, latency_ms, error_type)
        await self._logger.put(Verification(
            user_id=user_id, group_id=group_id, channel_id=ref.channel_id,
            status=status, latency_ms=latency_ms, cached=result.cached, error_type=error_type,
        ))
        if self._on_result is not None:
            self._on_result(user_id, group_id, result)
        return result
