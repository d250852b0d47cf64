"""Guarding: messages, joins, channel leaves and the "I have joined" button.

A user who is not a member of every enforced channel loses the message, is muted
(unless the group's ``mute`` option is off) and gets one warning with a Join button
per missing channel and an "I have joined" button.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import (
    Bot,
    ChatMember,
    ChatMemberUpdated,
    ChatPermissions,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

import firestore_verify as fv
from fsv_bot.admins import AdminCache
from fsv_bot.live_config import LiveConfig
from fsv_bot.membership import is_member
from fsv_bot.metrics import Metrics
from fsv_bot.notices import parse_verify_data, render_warning
from fsv_bot.options import GroupOptions
from fsv_bot.retry import with_retry

__all__ = ["Guard"]

T = TypeVar("T")
log = logging.getLogger("fsv_bot.guard")

_ADMIN_STATUSES = (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
#: Open warnings remembered (one per user and group); the oldest are forgotten first.
_MAX_OPEN_WARNINGS = 10_000


class Guard:
    """The handlers that enforce membership, and the moderation they do."""

    def __init__(
        self,
        registry: fv.GroupIndex,
        checker: fv.MembershipChecker,
        admins: AdminCache,
        metrics: Metrics,
        config: LiveConfig,
    ) -> None:
        self.registry = registry
        #: The runtime config (default warning, verified text, moderation pace).
        self.config = config
        self.checker = checker
        self.admins = admins
        self.metrics = metrics
        # (group_id, user_id) -> message id of the warning still standing.
        self._warnings: OrderedDict[tuple[int, int], int] = OrderedDict()

    # -- handlers ---------------------------------------------------------------------
    # --8<-- [start:on_message]
    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Check the sender of a group message; block it (and stop other handlers) if needed."""
        message = update.effective_message
        if message is None or message.sender_chat is not None:
            return  # anonymous admins and linked channels speak as a chat, not a user
        user = message.from_user
        group = self.registry.get(message.chat_id)
        if user is None or user.is_bot or group is None or not group.enforced_channels:
            return
        if await self.admins.is_admin(context.bot, group.id, user.id):
            return
        result = await self.checker.check(user.id, group)
        if result.verified:
            return
        await self.block(context.bot, group, user, result, message_id=message.message_id)
        raise ApplicationHandlerStop  # commands from unverified users are not run
    # --8<-- [end:on_message]

    # --8<-- [start:on_chat_member]
    async def on_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Joins of protected groups are checked; leaving an enforced channel mutes."""
        change = update.chat_member
        if change is None:
            return
        user = change.new_chat_member.user
        was_in, is_in = is_member(change.old_chat_member), is_member(change.new_chat_member)
        if change.chat.type == ChatType.CHANNEL:
            if was_in != is_in:
                self.checker.cache.invalidate(user.id, change.chat.id)
            if was_in and not is_in:
                await self._left_channel(context.bot, change, user)
            return
        if _admin_changed(change):
            self.admins.invalidate(change.chat.id)
        group = self.registry.get(change.chat.id)
        if group is None or user.is_bot or was_in or not is_in or not group.enforced_channels:
            return
        if await self.admins.is_admin(context.bot, group.id, user.id):
            return
        result = await self.checker.check(user.id, group)
        if not result.verified:
            await self.block(context.bot, group, user, result)
    # --8<-- [end:on_chat_member]

    # --8<-- [start:on_verify]
    async def on_verify(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Handle "I have joined": re-check without the cache; unmute, or list what is missing."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        target = parse_verify_data(query.data)
        if target is None:
            return
        if query.from_user.id != target:
            await query.answer("This button is for someone else.", show_alert=True)
            return
        chat_id, warning_id = query.message.chat.id, query.message.message_id
        group = self.registry.get(chat_id)
        if group is not None and group.enforced_channels:
            result = await self.checker.check(target, group, fresh=True)
            if not result.verified:
                names = ", ".join(ref.title for ref in result.missing)
                await query.answer(f"Still missing: {names}. Join, then press again.",
                                   show_alert=True)
                return
        # Verified (or the group is no longer protected): give the voice back.
        await self._moderate("restrictChatMember", "unmute", chat_id, target,
                             lambda: context.bot.restrict_chat_member(
                                 chat_id, target, ChatPermissions.all_permissions()))
        await query.answer(self.config.verified_text)
        self._warnings.pop((chat_id, target), None)
        await self._moderate("deleteMessage", "delete_warning", chat_id, target,
                             lambda: context.bot.delete_message(chat_id, warning_id))
    # --8<-- [end:on_verify]

    # -- moderation -----------------------------------------------------------------------
    # --8<-- [start:block]
    async def block(
        self,
        bot: Bot,
        group: fv.ProtectedGroup,
        user: User,
        result: fv.CheckResult,
        *,
        message_id: int | None = None,
    ) -> None:
        """Delete the message, mute the user and warn them, each step retried on flood control."""
        options = GroupOptions.of(group, default_warning=self.config.warning_template)
        if message_id is not None:
            await self._moderate("deleteMessage", "delete", group.id, user.id,
                                 lambda: bot.delete_message(group.id, message_id))
        if options.mute:
            await self._moderate("restrictChatMember", "mute", group.id, user.id,
                                 lambda: bot.restrict_chat_member(
                                     group.id, user.id, ChatPermissions.no_permissions()))
        key = (group.id, user.id)
        if key in self._warnings:
            return  # one warning per user is enough
        text, keyboard = render_warning(options.warning_template, user, group.title,
                                        result.missing)
        sent = await self._moderate("sendMessage", "warn", group.id, user.id,
                                    lambda: bot.send_message(group.id, text,
                                                             parse_mode=ParseMode.HTML,
                                                             reply_markup=keyboard))
        if sent is not None:
            self._warnings[key] = sent.message_id
            while len(self._warnings) > _MAX_OPEN_WARNINGS:
                self._warnings.popitem(last=False)
    # --8<-- [end:block]

    async def _moderate(self, method: str, action: str, group_id: int, user_id: int,
                        call: Callable[[], Awaitable[T]]) -> T | None:
        """Run one moderation call with retries; log (never raise) a final failure."""
        fields = {"group_id": group_id, "user_id": user_id, "method": method}
        await self.config.pacer.wait()
        try:
            value = await with_retry(call, method=method, metrics=self.metrics, extra=fields)
        except TelegramError as exc:
            log.warning("%s failed: %s", action, exc,
                        extra={**fields, "error_type": type(exc).__name__})
            return None
        self.metrics.actions.labels(action=action).inc()
        log.info(action, extra=fields)
        return value

    async def _left_channel(self, bot: Bot, change: ChatMemberUpdated, user: User) -> None:
        """``user`` left an enforced channel: re-check and block them in each linked group."""
        for group in self.registry.groups_for_channel(change.chat.id):
            try:
                member = await bot.get_chat_member(group.id, user.id)
            except TelegramError as exc:
                log.warning("could not look up group member: %s", exc,
                            extra={"group_id": group.id, "user_id": user.id,
                                   "error_type": type(exc).__name__})
                continue
            if not is_member(member) or member.status in _ADMIN_STATUSES:
                continue  # not in this group, or an admin
            result = await self.checker.check(user.id, group, fresh=True)
            if not result.verified:
                await self.block(bot, group, user, result)


def _admin_changed(change: ChatMemberUpdated) -> bool:
    old, new = change.old_chat_member.status, change.new_chat_member.status
    return (old in _ADMIN_STATUSES) != (new in _ADMIN_STATUSES)
