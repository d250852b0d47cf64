"""Membership checks: the library's cache in front of ``getChatMember``, every check logged.

One check looks at every enforced channel of a group, concurrently. Each channel
lookup becomes one verification event (``success``, ``failed``, or ``error`` when
Telegram failed: fail safe, an error never lets a user through).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from telegram import Bot, ChatMember, ChatMemberRestricted
from telegram.error import TelegramError

import firestore_verify as fv
from fsv_bot.metrics import Metrics

__all__ = ["ChannelResult", "CheckResult", "MembershipChecker", "is_member"]

log = logging.getLogger("fsv_bot.membership")

_MEMBER_STATUSES = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


def is_member(member: ChatMember) -> bool:
    """Member, administrator or creator; a restricted user counts while still in the chat."""
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in _MEMBER_STATUSES


@dataclass(frozen=True)
class ChannelResult:
    """The outcome for one channel."""

    channel: fv.ChannelRef
    status: fv.Status
    cached: bool
    latency_ms: float
    error_type: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """The outcome for one user in one group: one result per enforced channel."""

    user_id: int
    group_id: int
    channels: list[ChannelResult]

    @property
    def verified(self) -> bool:
        """Member of every enforced channel (an error counts as not a member)."""
        return all(r.status is fv.Status.SUCCESS for r in self.channels)

    @property
    def missing(self) -> list[fv.ChannelRef]:
        """The channels the user must (re)join, or that could not be checked."""
        return [r.channel for r in self.channels if r.status is not fv.Status.SUCCESS]


class MembershipChecker:
    """Checks users against a group's enforced channels, with cache, events and metrics."""

    def __init__(
        self,
        bot: Bot,
        cache: fv.MembershipCache,
        events: fv.VerificationLogger,
        metrics: Metrics,
    ) -> None:
        self._bot = bot
        self.cache = cache
        self._events = events
        self._metrics = metrics

    async def check(
        self, user_id: int, group: fv.ProtectedGroup, *, fresh: bool = False
    ) -> CheckResult:
        """Check ``user_id`` in every channel of ``group``; ``fresh`` asks Telegram again."""
        if fresh:
            self.cache.invalidate(user_id)
        results = await asyncio.gather(
            *(self._check_channel(user_id, group.id, ref) for ref in group.enforced_channels)
        )
        return CheckResult(user_id, group.id, list(results))

    # --8<-- [start:check]
    async def _check_channel(
        self, user_id: int, group_id: int, ref: fv.ChannelRef
    ) -> ChannelResult:
        started = time.perf_counter()
        cached = self.cache.get(user_id, ref.channel_id)
        error_type: str | None = None
        if cached is not None:
            self._metrics.cache_hits.inc()
            status = fv.Status.SUCCESS if cached else fv.Status.FAILED
        else:
            self._metrics.cache_misses.inc()
            try:
                member = await self._bot.get_chat_member(ref.channel_id, user_id)
            except TelegramError as exc:
                error_type = type(exc).__name__
                self._metrics.api_errors.labels(
                    method="getChatMember", error_type=error_type
                ).inc()
                status = fv.Status.ERROR
            else:
                joined = is_member(member)
                self.cache.set(user_id, ref.channel_id, joined)
                status = fv.Status.SUCCESS if joined else fv.Status.FAILED
        latency = time.perf_counter() - started
        result = ChannelResult(ref, status, cached is not None, latency * 1000, error_type)
        self.record(user_id, group_id, result)
        self._metrics.check_latency.labels(cached=str(result.cached).lower()).observe(latency)
        return result
    # --8<-- [end:check]

    # --8<-- [start:record]
    def record(self, user_id: int, group_id: int, result: ChannelResult) -> None:
        """Log ``result`` as a verification event, a metric and a log line."""
        self._metrics.verifications.labels(status=result.status.value).inc()
        fields = {
            "user_id": user_id,
            "group_id": group_id,
            "channel_id": result.channel.channel_id,
            "status": result.status.value,
            "latency_ms": result.latency_ms,
            "cached": result.cached,
            "error_type": result.error_type,
        }
        level = logging.DEBUG if result.status is fv.Status.SUCCESS else logging.INFO
        log.log(level, "membership check", extra=fields)
        try:
            self._events.record(fv.Verification(**fields))
        except fv.BufferFullError:
            self._metrics.events_dropped.inc()
            log.warning("verification logger full, event dropped", extra=fields)
    # --8<-- [end:record]
