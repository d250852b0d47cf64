"""Membership checks: Telegram's ``getChatMember`` behind the library's checker.

The library's :class:`firestore_verify.MembershipChecker` does the generic work
(cache first, one verification event per channel, fail safe on errors). This
module supplies what is Telegram-specific: the lookup, what counts as a member,
and the metrics and log line for every result.
"""

from __future__ import annotations

import logging

from telegram import Bot, ChatMember, ChatMemberRestricted

import firestore_verify as fv
from fsv_bot.metrics import Metrics

__all__ = ["is_member", "make_checker"]

log = logging.getLogger("fsv_bot.membership")

_MEMBER_STATUSES = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


def is_member(member: ChatMember) -> bool:
    """Member, administrator or creator; a restricted user counts while still in the chat."""
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in _MEMBER_STATUSES


# --8<-- [start:check]
def make_checker(
    bot: Bot, cache: fv.MembershipCache, events: fv.VerificationLogger, metrics: Metrics
) -> fv.MembershipChecker:
    """The library's checker, asking Telegram and reporting every result to ``metrics``."""

    async def lookup(user_id: int, channel_id: int) -> bool:
        return is_member(await bot.get_chat_member(channel_id, user_id))

    def report(user_id: int, group_id: int, result: fv.ChannelResult) -> None:
        (metrics.cache_hits if result.cached else metrics.cache_misses).inc()
        if result.error_type is not None:
            metrics.api_errors.labels(method="getChatMember", error_type=result.error_type).inc()
        metrics.verifications.labels(status=result.status.value).inc()
        metrics.check_latency.labels(cached=str(result.cached).lower()).observe(
            result.latency_ms / 1000)
        level = logging.DEBUG if result.status is fv.Status.SUCCESS else logging.INFO
        log.log(level, "membership check", extra={
            "user_id": user_id, "group_id": group_id, "channel_id": result.channel.channel_id,
            "status": result.status.value, "latency_ms": result.latency_ms,
            "cached": result.cached, "error_type": result.error_type,
        })

    return fv.MembershipChecker(lookup, cache, events, on_result=report)
# --8<-- [end:check]
