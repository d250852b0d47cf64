"""The world of the fake Bot API server: users, chats, members, messages, the update queue.

:class:`World` holds the state that :class:`~fsv_bot.fake_telegram.FakeBotApi` scripts
and the Bot API methods (:mod:`fsv_bot.fake_methods`) read and change, and the rules
both sides share, as Telegram has them: what a ``ChatMember`` or ``Chat`` looks like in
JSON, who is in a chat and who may write there, which permissions lift a restriction,
the ``chat_member`` / ``my_chat_member`` update a status change produces (only for
chats where the bot is an administrator), and which queued updates the bot gets to
see (``allowed_updates``).

It knows nothing of HTTP or of the Bot API's error answers: a missing chat or message
is a ``LookupError``, a bad argument a ``ValueError``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ADMIN_RIGHTS",
    "JSON",
    "PERMISSIONS",
    "Chat",
    "Member",
    "MemberStatus",
    "World",
    "chat_permissions",
    "default_permissions",
    "now",
]

JSON = dict[str, Any]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]

#: Every ChatPermissions field, in Bot API order.
PERMISSIONS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
    "can_react_to_messages",
)
_MEDIA = PERMISSIONS[1:7]

#: Administrator rights every ChatMemberAdministrator carries, with the defaults used here.
ADMIN_RIGHTS: dict[str, bool] = {
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": True,
    "can_edit_stories": True,
    "can_delete_stories": True,
}
_GROUP_ADMIN_RIGHTS = {"can_pin_messages": True, "can_manage_topics": False}
_CHANNEL_ADMIN_RIGHTS = {"can_post_messages": True, "can_edit_messages": True}
_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")

#: Updates Telegram leaves out unless ``allowed_updates`` names them.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_IN_CHAT = ("creator", "administrator", "member")


def now() -> int:
    """The current Unix time in whole seconds, as Telegram dates are."""
    return int(time.time())


def _strip(data: JSON) -> JSON:
    return {k: v for k, v in data.items() if v is not None}


def default_permissions() -> dict[str, bool]:
    """A new group's default member permissions: all but topics and tags."""
    return {name: name not in ("can_manage_topics", "can_edit_tag") for name in PERMISSIONS}


def chat_permissions(given: Mapping[str, Any], *, independent: bool) -> dict[str, bool]:
    """Every ChatPermissions field from the ones given (omitted ones are ``False``).

    Unless ``independent`` (``use_independent_chat_permissions``), Telegram's older
    rules apply: other messages or link previews imply text and media, polls imply text.
    """
    perms = {name: bool(given.get(name, False)) for name in PERMISSIONS}
    if not independent:
        if any(perms[n] for n in ("can_send_other_messages", "can_add_web_page_previews")):
            perms.update(dict.fromkeys(("can_send_messages", *_MEDIA), True))
        if perms["can_send_polls"]:
            perms["can_send_messages"] = True
    return perms


@dataclass
class Member:
    """A user's standing in one chat."""

    status: MemberStatus
    #: For ``kicked`` and ``restricted``: when it ends (0: never).
    until_date: int = 0
    #: For ``restricted``: whether the user is in the chat.
    is_member: bool = False
    #: For ``restricted``: every ChatPermissions field.
    permissions: dict[str, bool] = field(default_factory=dict)
    #: For ``administrator``: the rights.
    rights: dict[str, bool] = field(default_factory=dict)
    custom_title: str | None = None


@dataclass
class Chat:
    """A private chat, group, supergroup or channel, with its members by user id."""

    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    description: str | None = None
    #: The default member permissions (groups and supergroups).
    permissions: dict[str, bool] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    next_message_id: int = 1


class World:
    """The users, chats, messages and pending updates of one fake Telegram, as one bot sees it.

    Not thread safe by itself: callers hold :attr:`lock` (re-entrant) around every
    call and every read or change of a :class:`Chat`, except :meth:`inject_update`,
    :meth:`waiting_updates` and :meth:`settle_update`, which take it themselves.
    :attr:`on_update` is called after an update was queued, on the thread that queued
    it and possibly with the lock held.
    """

    def __init__(self, bot_id: int, *, bot_name: str, bot_username: str) -> None:
        #: Guards all of the state (and the fake server's call log).
        self.lock = threading.RLock()
        self.bot_id = bot_id
        #: The update kinds the bot asked for; ``None``: Telegram's default set.
        self.allowed: frozenset[str] | None = None
        #: Called after an update was queued (the fake server wakes its consumers).
        self.on_update: Callable[[], None] = _nothing
        self._users: dict[int, JSON] = {
            bot_id: {"id": bot_id, "is_bot": True, "first_name": bot_name, "username": bot_username}
        }
        self._chats: dict[int, Chat] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._callbacks: dict[str, JSON | None] = {}  # query id -> answer params (None: open)
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._last_delivered_id = 0
        self._delivered = 0

    # ------------------------------------------------------------------ users

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        username: str | None = None,
        last_name: str | None = None,
        is_bot: bool = False,
        language_code: str | None = None,
    ) -> JSON:
        """Create (or replace) a user; returns its ``User`` JSON."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user = _strip(
            {
                "id": user_id,
                "is_bot": is_bot,
                "first_name": first_name or f"User{user_id}",
                "last_name": last_name,
                "username": username,
                "language_code": language_code,
            }
        )
        with self.lock:
            self._users[user_id] = user
        return dict(user)

    def has_user(self, user_id: int) -> bool:
        """Whether the user exists."""
        return user_id in self._users

    def user(self, user_id: int) -> JSON:
        """The user's ``User`` JSON; an unknown user is created with a default name."""
        if user_id not in self._users:
            self.add_user(user_id)
        return dict(self._users[user_id])

    # ------------------------------------------------------------------ chats

    def add_chat(
        self,
        chat: Chat,
        *,
        owner_id: int | None,
        bot_status: MemberStatus,
        bot_rights: Mapping[str, bool] | None,
    ) -> JSON:
        """Add a group or channel with its owner (if any) and the bot; returns its ``Chat``."""
        if chat.id >= 0:
            raise ValueError("group and channel ids are negative")
        self._chats[chat.id] = chat
        if owner_id is not None:
            self.set_member(chat, owner_id, "creator")
        self.set_member(chat, self.bot_id, bot_status, rights=bot_rights)
        return self.chat_json(chat)

    def chat(self, chat_id: int) -> Chat:
        """The chat; a user's private chat with the bot exists as soon as the user does."""
        chat = self._chats.get(chat_id)
        if chat is None and chat_id > 0 and chat_id in self._users:
            chat = Chat(chat_id, "private")
            self._chats[chat_id] = chat
        if chat is None:
            raise LookupError(f"chat {chat_id} does not exist: add_group/add_channel first")
        return chat

    def chat_by_username(self, username: str) -> Chat | None:
        """The chat with this ``@username`` (without the ``@``, any case), if any."""
        for chat in self._chats.values():
            if chat.username and chat.username.lower() == username.lower():
                return chat
        return None

    def chat_json(self, chat: Chat) -> JSON:
        """The chat's ``Chat`` JSON, as messages and updates carry it."""
        if chat.type == "private":
            user = self._users[chat.id]
            keys = ("first_name", "last_name", "username")
            return {"id": chat.id, "type": "private", **{k: user[k] for k in keys if k in user}}
        return _strip(
            {"id": chat.id, "type": chat.type, "title": chat.title, "username": chat.username}
        )

    def full_chat_json(self, chat: Chat) -> JSON:
        """The chat's ``ChatFullInfo`` JSON, as ``getChat`` returns it."""
        info: JSON = {
            **self.chat_json(chat),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat.description:
            info["description"] = chat.description
        if chat.type in ("group", "supergroup"):
            info["permissions"] = dict(chat.permissions)
        return info

    # ------------------------------------------------------------------ members

    def new_member(
        self,
        chat: Chat,
        status: MemberStatus,
        until_date: int = 0,
        is_member: bool = True,
        permissions: Mapping[str, bool] | None = None,
        custom_title: str | None = None,
        rights: Mapping[str, bool] | None = None,
    ) -> Member:
        """A member of ``chat`` with ``status`` (not stored).

        ``restricted`` ones get ``permissions`` (missing ones ``False``) and
        ``is_member``; ``administrator`` ones get :data:`ADMIN_RIGHTS` and the group's
        or channel's extra rights, overridden by ``rights``.
        """
        if status not in _STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        member = Member(status, until_date=until_date, custom_title=custom_title)
        if status == "restricted":
            member.is_member = is_member
            member.permissions = {name: bool((permissions or {}).get(name)) for name in PERMISSIONS}
        if status == "administrator":
            extra = _CHANNEL_ADMIN_RIGHTS if chat.type == "channel" else _GROUP_ADMIN_RIGHTS
            member.rights = {**ADMIN_RIGHTS, **extra, **(rights or {})}
        return member

    def set_member(
        self,
        chat: Chat,
        user_id: int,
        status: MemberStatus,
        *,
        until_date: int = 0,
        is_member: bool = True,
        permissions: Mapping[str, bool] | None = None,
        rights: Mapping[str, bool] | None = None,
        custom_title: str | None = None,
    ) -> JSON:
        """Put a user in a chat (see :meth:`new_member`), silently; returns the ChatMember."""
        self.user(user_id)
        chat.members[user_id] = self.new_member(
            chat, status, until_date, is_member, permissions, custom_title, rights
        )
        return self.member_json(chat, user_id)

    def member_json(self, chat: Chat, user_id: int) -> JSON:
        """The user's ``ChatMember`` JSON in the chat, as ``getChatMember`` returns it."""
        member = chat.members.get(user_id) or Member("left")
        body: JSON = {"status": member.status, "user": self.user(user_id)}
        if member.status == "creator":
            body["is_anonymous"] = False
        elif member.status == "administrator":
            body.update(can_be_edited=False, is_anonymous=False, **member.rights)
        elif member.status == "restricted":
            body.update(is_member=member.is_member, until_date=member.until_date)
            body.update(member.permissions)
        elif member.status == "kicked":
            body["until_date"] = member.until_date
        if member.custom_title and member.status in ("creator", "administrator"):
            body["custom_title"] = member.custom_title
        return body

    def status(self, chat: Chat, user_id: int) -> MemberStatus:
        """The user's status in the chat (``left`` if never there)."""
        member = chat.members.get(user_id)
        return member.status if member else "left"

    def in_chat(self, chat: Chat, user_id: int) -> bool:
        """Whether the user is in the chat (a muted member included)."""
        member = chat.members.get(user_id)
        if member is None:
            return False
        return member.status in _IN_CHAT or (member.status == "restricted" and member.is_member)

    def can_send_messages(self, chat: Chat, user_id: int) -> bool:
        """Whether the user may write in the chat now (a member, and not muted)."""
        member = chat.members.get(user_id)
        if member is None:
            return False
        if member.status == "restricted":
            return member.is_member and member.permissions["can_send_messages"]
        return member.status in _IN_CHAT

    def bot_is_admin(self, chat: Chat) -> bool:
        """Whether the bot owns or administers the chat."""
        return self.status(chat, self.bot_id) in ("creator", "administrator")

    def owner_or_user(self, chat: Chat, user_id: int) -> int:
        """The chat's owner, or ``user_id`` when it has none."""
        owners = [uid for uid, m in chat.members.items() if m.status == "creator"]
        return owners[0] if owners else user_id

    def covers_defaults(self, chat: Chat, permissions: Mapping[str, bool]) -> bool:
        """Whether ``permissions`` include every one the chat grants its members by default.

        Restricting a user to such permissions makes them a plain member again.
        """
        return all(permissions[name] for name, granted in chat.permissions.items() if granted)

    def change_member(
        self,
        chat: Chat,
        user_id: int,
        new: Member,
        *,
        actor_id: int,
        invite_link: JSON | None = None,
    ) -> JSON | None:
        """Set a member and queue the chat_member / my_chat_member update Telegram sends.

        Returns the update; ``None`` when nothing changed or the bot is not told
        (it is no administrator there).
        """
        old_json = self.member_json(chat, user_id)
        chat.members[user_id] = new
        new_json = self.member_json(chat, user_id)
        if old_json == new_json:
            return None
        kind = "my_chat_member" if user_id == self.bot_id else "chat_member"
        if kind == "chat_member" and not self.bot_is_admin(chat):
            return None  # Telegram only tells administrators about other members.
        event = {
            "chat": self.chat_json(chat),
            "from": self.user(actor_id),
            "date": now(),
            "old_chat_member": old_json,
            "new_chat_member": new_json,
        }
        if invite_link is not None:
            event["invite_link"] = invite_link
        return self.inject_update({kind: event})

    # ------------------------------------------------------------------ messages

    def new_message(self, chat: Chat, sender: JSON, content: JSON) -> JSON:
        """Store a new message from ``sender`` (a User; a channel posts as itself)."""
        message: JSON = {
            "message_id": chat.next_message_id,
            "date": now(),
            "chat": self.chat_json(chat),
        }
        chat.next_message_id += 1
        if chat.type == "channel":
            message["sender_chat"] = self.chat_json(chat)
        else:
            message["from"] = sender
        message.update(content)
        self._messages[(chat.id, message["message_id"])] = message
        return copy.deepcopy(message)

    def message(self, chat_id: int, message_id: int) -> JSON:
        """A copy of the message as it is now; ``LookupError`` if unknown or deleted."""
        message = self.stored_message(chat_id, message_id)
        if message is None:
            raise LookupError(f"message {message_id} in chat {chat_id} does not exist")
        return copy.deepcopy(message)

    def stored_message(self, chat_id: int, message_id: int) -> JSON | None:
        """The stored message itself (edit it in place); ``None`` if unknown or deleted."""
        key = (chat_id, message_id)
        if key in self._deleted:
            return None
        return self._messages.get(key)

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """Mark the message deleted."""
        self._deleted.add((chat_id, message_id))

    def is_deleted(self, chat_id: int, message_id: int) -> bool:
        """Whether the message was deleted."""
        return (chat_id, message_id) in self._deleted

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        """Copies of the bot's messages not deleted (in ``chat_id``), oldest first."""
        return [
            copy.deepcopy(msg)
            for key, msg in self._messages.items()
            if key not in self._deleted
            and self.is_from_bot(msg)
            and (chat_id is None or key[0] == chat_id)
        ]

    def is_from_bot(self, message: JSON) -> bool:
        """Whether the bot sent the message (a channel post counts)."""
        sender = message.get("from", {}).get("id")
        return sender == self.bot_id or (sender is None and "sender_chat" in message)

    # ------------------------------------------------------------------ callback queries

    def open_callback_query(self) -> str:
        """A new callback query id, open until :meth:`answer_callback_query`."""
        query_id = str(4_000_000_000 + len(self._callbacks))
        self._callbacks[query_id] = None
        return query_id

    def answer_callback_query(self, query_id: str, answer: JSON) -> bool:
        """Record the answer to an open query; ``False`` if unknown or already answered."""
        if query_id not in self._callbacks or self._callbacks[query_id] is not None:
            return False
        self._callbacks[query_id] = answer
        return True

    def callback_answer(self, query_id: str) -> JSON | None:
        """The answer given to the query; ``None`` while unanswered (or unknown)."""
        return self._callbacks.get(query_id)

    # ------------------------------------------------------------------ the update queue

    def inject_update(self, update: JSON) -> JSON:
        """Queue an update (its ``update_id`` is assigned); returns a copy, numbered."""
        with self.lock:
            update = {"update_id": self._next_update_id, **update}
            self._next_update_id += 1
            self._updates.append(update)
        self.on_update()
        return copy.deepcopy(update)

    def pending_updates(self) -> list[JSON]:
        """Copies of the queued updates, oldest first."""
        return copy.deepcopy(self._updates)

    @property
    def pending_count(self) -> int:
        """How many updates are queued."""
        return len(self._updates)

    @property
    def delivered(self) -> int:
        """How many distinct updates were handed out (``getUpdates``) or delivered (webhook)."""
        return self._delivered

    def drop_updates(self) -> None:
        """Forget the queued updates (``drop_pending_updates``)."""
        self._updates.clear()

    def take_updates(self, offset: int, limit: int) -> list[JSON]:
        """What ``getUpdates`` returns: confirm (drop) those below ``offset``, hand out the rest.

        A negative ``offset`` keeps only the last ``-offset`` updates. Updates of kinds
        the bot did not allow are dropped; at most ``limit`` are returned (copies).
        """
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._updates = kept = self._allowed_only(self._updates)
        batch = kept[:limit]
        for update in batch:
            if update["update_id"] > self._last_delivered_id:
                self._last_delivered_id = update["update_id"]
                self._delivered += 1
        return copy.deepcopy(batch)

    def waiting_updates(self) -> list[JSON]:
        """The updates the webhook is owed, oldest first (the delivery's ``waiting``)."""
        with self.lock:
            self._updates = self._allowed_only(self._updates)
            return list(self._updates)

    def settle_update(self, update_id: int, delivered: bool) -> None:
        """An update left the queue: the webhook took it, or it was given up."""
        with self.lock:
            left = [u for u in self._updates if u["update_id"] != update_id]
            if delivered and len(left) < len(self._updates):
                self._delivered += 1
                self._last_delivered_id = max(self._last_delivered_id, update_id)
            self._updates = left

    def _allowed_only(self, updates: list[JSON]) -> list[JSON]:
        """The updates of kinds the bot allowed: Telegram never delivers the others."""
        allowed = self.allowed
        kept = []
        for update in updates:
            kind = next(k for k in update if k != "update_id")
            if (kind in allowed) if allowed is not None else (kind not in _OPT_IN_UPDATES):
                kept.append(update)
        return kept


def _nothing() -> None:
    pass
