"""A force-subscribe bot on aiogram 3: members of the enforced channels speak, others wait.

The library does the data side: ``fv.GroupIndex`` keeps the protected groups (live
from Firestore), ``fv.MembershipChecker`` checks a user against a group's channels
(cached, every check logged as a verification event), the logger commits the
events exactly once. aiogram does the Telegram side: the handlers, ``getChatMember``,
deleting, muting and the "I have joined" button.

    TELEGRAM_BOT_TOKEN=... FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 python -m fsv_aiogram.bot
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.types import (
    CallbackQuery,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

import firestore_verify as fv

__all__ = ["Guard", "main", "running_guard"]

MEMBER_STATUSES = {"creator", "administrator", "member"}
MUTED = ChatPermissions(can_send_messages=False)
FREE = ChatPermissions(can_send_messages=True, can_send_other_messages=True,
                       can_add_web_page_previews=True)


# --8<-- [start:guard]
@dataclass
class Guard:
    """The bot's state: the live groups and the checker (one per process)."""

    bot: Bot
    groups: fv.GroupIndex
    checker: fv.MembershipChecker

    def router(self) -> Router:
        """The handlers: messages in protected groups, and the "I have joined" button."""
        router = Router()
        router.message.register(self.on_message, F.chat.type.in_({"group", "supergroup"}))
        router.callback_query.register(self.on_verify, F.data.startswith("verify:"))
        return router

    async def on_message(self, message: Message) -> None:
        """Let members speak; delete a non-member's message, mute them, show the way in."""
        group = self.groups.get(message.chat.id)
        user = message.from_user
        if group is None or user is None or user.is_bot:
            return
        result = await self.checker.check(user.id, group)
        if result.verified:
            return
        await message.delete()
        await self.bot.restrict_chat_member(group.id, user.id, permissions=MUTED)
        buttons = [[InlineKeyboardButton(text=f"Join {channel.title}", url=url)]
                   for channel in result.missing if (url := channel.join_url())]
        buttons.append([InlineKeyboardButton(text="I have joined",
                                             callback_data=f"verify:{user.id}")])
        await message.answer(f"{user.full_name}, join the channels below to write here.",
                             reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))

    async def on_verify(self, query: CallbackQuery) -> None:
        """Check again, from Telegram (``fresh=True``), and unmute a user who joined."""
        message = query.message
        group = self.groups.get(message.chat.id) if message is not None else None
        if group is None or query.data != f"verify:{query.from_user.id}":
            await query.answer("This button is not for you.")
            return
        result = await self.checker.check(query.from_user.id, group, fresh=True)
        if not result.verified:
            await query.answer("You have not joined every channel yet.", show_alert=True)
            return
        await self.bot.restrict_chat_member(group.id, query.from_user.id, permissions=FREE)
        await query.answer("Thanks, you can write now.")
# --8<-- [end:guard]


def _is_member(member: object) -> bool:
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return getattr(member, "status", None) in MEMBER_STATUSES


# --8<-- [start:running]
@asynccontextmanager
async def running_guard(bot: Bot, store: fv.Store) -> AsyncIterator[Dispatcher]:
    """The logger, the live groups and the dispatcher, ready; everything closed after."""

    async def lookup(user_id: int, channel_id: int) -> bool:
        return _is_member(await bot.get_chat_member(channel_id, user_id))

    async with store.verifications.logger() as log, anyio.create_task_group() as tasks:
        groups = fv.GroupIndex()
        await tasks.start(groups.follow, store)  # returns once the first snapshot is in
        guard = Guard(bot, groups, fv.MembershipChecker(lookup, fv.MembershipCache(), log))
        dispatcher = Dispatcher()
        dispatcher.include_router(guard.router())
        try:
            yield dispatcher
        finally:
            tasks.cancel_scope.cancel()
# --8<-- [end:running]


async def main() -> None:
    """Poll Telegram until interrupted."""
    store = await fv.connect()
    async with Bot(os.environ["TELEGRAM_BOT_TOKEN"]) as bot, store, \
            running_guard(bot, store) as dispatcher:
        await dispatcher.start_polling(bot)


if __name__ == "__main__":
    anyio.run(main)
