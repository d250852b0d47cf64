"""Bot commands: /start /help /protect /unprotect /status and the channel and settings ones.

/addchannel, /removechannel, /channels and /settings complete the set.

Commands that change anything are for group admins, and the bot checks its own
rights (in the group and in each channel) before storing anything. Every change
goes through the library (``store.groups.protect`` / ``link_channel`` / ...), which
keeps both sides of each link and the counters consistent.
"""

from __future__ import annotations

import html
import logging
import re

from telegram import Bot, Chat, ChatMember, Message, Update, User
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

import firestore_verify as fv
from fsv_bot.live_config import LiveConfig
from fsv_bot.options import DEFAULT_WARNING, MAX_TEMPLATE_LENGTH, GroupOptions

__all__ = ["HELP", "USAGE", "Commands"]

log = logging.getLogger("fsv_bot.commands")

HELP = """<b>Force-subscribe bot</b>: members of a protected group must join its channels.

<b>Set up</b>: make me an admin of your group (delete messages, ban users) and of \
each channel, then in the group:
/protect @channel [-100id ...] - protect this group with these channels
/unprotect - stop protecting (settings are kept)
/addchannel @channel - enforce one more channel
/removechannel @channel - stop enforcing a channel
/channels - the channels to join
/status - protection state and this group's verifications
/settings - warning text and muting"""

USAGE = {
    "protect": "Usage: /protect @channel|-100id [more channels]",
    "addchannel": "Usage: /addchannel @channel|-100id [more channels]",
    "removechannel": "Usage: /removechannel @channel|-100id",
    "settings": "Usage: /settings [warning <text> | mute on|off | reset]",
}

_CHANNEL_ARG = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-\d{5,20})$")
_ADMIN = (ChatMember.ADMINISTRATOR, ChatMember.OWNER)


class CommandError(Exception):
    """A short explanation for the user; the command changes nothing."""


def _usage(command: str) -> CommandError:
    return CommandError(html.escape(USAGE[command]))


def _channel_args(args: list[str] | None, command: str) -> list[str]:
    if not args or not all(_CHANNEL_ARG.match(a) for a in args):
        raise _usage(command)
    if len(set(args)) != len(args):
        raise CommandError("Each channel once, please.")
    return args


def _label(ref: fv.ChannelRef) -> str:
    name = html.escape(ref.title)
    return f"{name} (@{ref.username})" if ref.username else name


class Commands:
    """The command handlers, sharing the store and the live registry."""

    def __init__(self, store: fv.Store, registry: fv.GroupIndex,
                 config: LiveConfig | None = None) -> None:
        self.store = store
        self.registry = registry
        #: The runtime config: its warning template is the default one.
        self.config = config

    def _default_warning(self) -> str:
        return DEFAULT_WARNING if self.config is None else self.config.warning_template

    def _options(self, group: fv.ProtectedGroup) -> GroupOptions:
        return GroupOptions.of(group, default_warning=self._default_warning())

    # -- entry point ------------------------------------------------------------------
    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Dispatch ``/name args`` to ``cmd_name``; usage errors become short replies."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        name = message.text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            return
        log.info("command", extra={"command": name, "group_id": message.chat_id,
                                   "user_id": message.from_user.id if message.from_user else None})
        try:
            reply = await handler(context.bot, message, context.args or [])
        except CommandError as exc:
            reply = str(exc)
        except fv.InvalidInputError as exc:
            reply = f"That did not work: {exc}"
        await message.reply_text(reply, parse_mode=ParseMode.HTML,
                                 disable_web_page_preview=True,
                                 do_quote=message.chat.type != ChatType.PRIVATE)

    # -- checks -------------------------------------------------------------------------------
    @staticmethod
    def _group_chat(message: Message) -> Chat:
        if message.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
            raise CommandError("Use this command in the group you want to protect.")
        return message.chat

    @staticmethod
    async def _require_admin(bot: Bot, chat: Chat, message: Message) -> User:
        user = message.from_user
        if user is None or message.sender_chat is not None:
            raise CommandError("Anonymous admins cannot be told apart: "
                               "turn off \u201cRemain anonymous\u201d to use this command.")
        member = await bot.get_chat_member(chat.id, user.id)
        if member.status not in _ADMIN:
            raise CommandError("Only group admins can do that.")
        return user

    @staticmethod
    async def _require_bot_rights(bot: Bot, chat: Chat) -> None:
        me = await bot.get_chat_member(chat.id, bot.id)
        if me.status == ChatMember.OWNER:
            return
        if me.status != ChatMember.ADMINISTRATOR or not (
            getattr(me, "can_restrict_members", False)
            and getattr(me, "can_delete_messages", False)
        ):
            raise CommandError("Make me an admin of this group with the rights to delete "
                               "messages and ban users first.")
        if chat.type != ChatType.SUPERGROUP:
            raise CommandError("Muting needs a supergroup: make the group public once, "
                               "or change a setting that upgrades it.")

    @staticmethod
    async def _resolve_channel(bot: Bot, arg: str) -> fv.ChannelInfo:
        """The channel ``arg`` names, once we know the bot can see its members."""
        try:
            chat = await bot.get_chat(arg)
        except TelegramError:
            raise CommandError(f"I cannot find {html.escape(arg)}: check the name, "
                               "and add me to the channel as an admin.") from None
        if chat.type != ChatType.CHANNEL:
            raise CommandError(f"{html.escape(arg)} is not a channel.")
        title = html.escape(chat.title or arg)
        try:
            me = await bot.get_chat_member(chat.id, bot.id)
        except TelegramError:
            me = None
        if me is None or me.status not in _ADMIN:
            raise CommandError(f"Make me an admin of {title} first: "
                               "only admins can see who is a member.")
        invite_link = chat.invite_link
        if invite_link is None and chat.username is None:
            try:
                invite_link = await bot.export_chat_invite_link(chat.id)
            except TelegramError:
                invite_link = None
        return fv.ChannelInfo(id=chat.id, title=chat.title or arg, username=chat.username,
                              invite_link=invite_link)

    async def _stored_group(self, chat: Chat) -> fv.ProtectedGroup:
        group = await self.store.groups.find(chat.id)
        if group is None:
            raise CommandError("This group is not protected yet: use /protect @channel.")
        return group

    # -- commands -------------------------------------------------------------------------------
    async def cmd_start(self, bot: Bot, message: Message, args: list[str]) -> str:
        """Welcome and help."""
        return HELP

    async def cmd_help(self, bot: Bot, message: Message, args: list[str]) -> str:
        """The command list."""
        return HELP

    # --8<-- [start:protect]
    async def cmd_protect(self, bot: Bot, message: Message, args: list[str]) -> str:
        """Protect this group with the channels given."""
        chat = self._group_chat(message)
        channel_args = _channel_args(args, "protect")
        user = await self._require_admin(bot, chat, message)
        await self._require_bot_rights(bot, chat)
        channels = [await self._resolve_channel(bot, arg) for arg in channel_args]
        try:
            member_count: int | None = await bot.get_chat_member_count(chat.id)
        except TelegramError:
            member_count = None
        try:
            owner = fv.OwnerInfo(id=user.id, username=user.username)
        except fv.InvalidInputError:
            owner = fv.OwnerInfo(id=user.id)
        result = await self.store.groups.protect(
            group=fv.GroupInfo(id=chat.id, title=chat.title or str(chat.id),
                               member_count=member_count),
            owner=owner,
            channels=channels,
        )
        self.registry.put(result.group)
        names = ", ".join(_label(ref) for ref in result.group.enforced_channels)
        return f"Protected. To write here, members must join: {names}."
    # --8<-- [end:protect]

    async def cmd_unprotect(self, bot: Bot, message: Message, args: list[str]) -> str:
        """Stop protecting this group (its channels and settings are kept)."""
        chat = self._group_chat(message)
        await self._require_admin(bot, chat, message)
        try:
            group = await self.store.groups.unprotect(chat.id)
        except fv.NotFoundError:
            return "This group is not protected."
        self.registry.put(group)
        return "Protection is off. /protect turns it back on."

    # --8<-- [start:status]
    async def cmd_status(self, bot: Bot, message: Message, args: list[str]) -> str:
        """Protection state, channels and this group's verifications."""
        chat = self._group_chat(message)
        group = await self.store.groups.find(chat.id)
        if group is None:
            return "Not protected. An admin can run /protect @channel."
        stats = await self.store.analytics.group(chat.id)
        channels = ", ".join(_label(ref) for ref in group.enforced_channels) or "none"
        return "\n".join([
            f"<b>Protection</b>: {'on' if group.enabled else 'off'}",
            f"<b>Channels</b>: {channels}",
            f"<b>Today</b>: {stats.today.total} checks, {stats.today.success} passed "
            f"({stats.today.success_rate:g}%)",
            f"<b>Last 7 days</b>: {stats.week.total} checks, "
            f"{stats.week.success_rate:g}% passed",
        ])
    # --8<-- [end:status]

    async def cmd_channels(self, bot: Bot, message: Message, args: list[str]) -> str:
        """The channels to join, with their links."""
        chat = self._group_chat(message)
        group = await self._stored_group(chat)
        if not group.enforced_channels:
            return "No channels are enforced here. Admins: /addchannel @channel."
        lines = ["Join these channels to write here:"]
        for ref in group.enforced_channels:
            url = ref.join_url()
            lines.append(f"- {_label(ref)}" + (f": {html.escape(url)}" if url else ""))
        return "\n".join(lines)

    async def cmd_addchannel(self, bot: Bot, message: Message, args: list[str]) -> str:
        """Enforce more channels in this (already protected) group."""
        chat = self._group_chat(message)
        channel_args = _channel_args(args, "addchannel")
        await self._require_admin(bot, chat, message)
        await self._stored_group(chat)
        channels = [await self._resolve_channel(bot, arg) for arg in channel_args]
        group: fv.ProtectedGroup | None = None
        for channel in channels:
            group = await self.store.groups.link_channel(chat.id, channel)
        assert group is not None
        self.registry.put(group)
        return "Now enforcing: " + ", ".join(_label(r) for r in group.enforced_channels) + "."

    async def cmd_removechannel(self, bot: Bot, message: Message, args: list[str]) -> str:
        """Stop enforcing one channel here."""
        chat = self._group_chat(message)
        if len(args) != 1:
            raise _usage("removechannel")
        [arg] = _channel_args(args, "removechannel")
        await self._require_admin(bot, chat, message)
        group = await self._stored_group(chat)
        wanted = arg.lstrip("@").lower()
        ref = next((r for r in group.enforced_channels
                    if str(r.channel_id) == arg or (r.username or "").lower() == wanted), None)
        if ref is None:
            return f"{html.escape(arg)} is not enforced here. /channels lists those that are."
        group = await self.store.groups.unlink_channel(chat.id, ref.channel_id)
        self.registry.put(group)
        if not group.enforced_channels:
            return f"Removed {_label(ref)}. No channels left: nobody is checked until /addchannel."
        return f"Removed {_label(ref)}."

    async def cmd_settings(self, bot: Bot, message: Message, args: list[str]) -> str:
        """Show, or (admins) change, the warning text and muting."""
        chat = self._group_chat(message)
        group = await self._stored_group(chat)
        if not args:
            options = self._options(group)
            return "\n".join([
                f"<b>Warning</b>: {html.escape(options.warning_template)}",
                f"<b>Mute</b>: {'on' if options.mute else 'off'}",
                html.escape(USAGE["settings"]),
            ])
        params = dict(group.params)
        key = args[0].lower()
        if key == "warning" and len(args) > 1:
            assert message.text is not None
            template = message.text.split(maxsplit=2)[2].strip()
            if len(template) > MAX_TEMPLATE_LENGTH:
                raise CommandError(f"Keep the warning under {MAX_TEMPLATE_LENGTH} characters.")
            params["warning_template"] = template
        elif key == "mute" and len(args) == 2 and args[1].lower() in ("on", "off"):
            params["mute"] = args[1].lower() == "on"
        elif key == "reset" and len(args) == 1:
            params.pop("warning_template", None)
            params.pop("mute", None)
        else:
            raise _usage("settings")
        await self._require_admin(bot, chat, message)
        updated = await self.store.groups.update(chat.id, params=params)
        self.registry.put(updated)
        options = self._options(updated)
        warning = ("default" if options.warning_template == self._default_warning()
                   else html.escape(options.warning_template))
        return f"Saved. Warning: {warning}. Mute: {'on' if options.mute else 'off'}."
