"""A fake Telegram Bot API server for tests: real HTTP, real wire format, a scriptable world.

:class:`FakeBotApi` is an aiohttp server on ``127.0.0.1`` (a free port) that answers
``GET``/``POST /bot<token>/<method>`` the way ``api.telegram.org`` does, so a real
python-telegram-bot ``Bot`` or ``Application`` talks to it unchanged::

    with FakeBotApi() as api:
        api.add_group(GROUP, "Crypto Chat")
        api.add_channel(CHANNEL, "News", username="news")
        api.set_member(CHANNEL, USER, "member")
        bot = Bot(api.token, base_url=api.base_url)

It runs its own event loop in a background thread, so it works from sync tests and
from async tests on any event loop, and a test that blocks its own loop cannot
stall it. Every helper is thread safe.

What it models, on purpose like Telegram:

* Responses are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
  "description": "..."}`` with the same HTTP status; 429s carry
  ``parameters.retry_after``. A wrong token gets 401, an unknown method 404.
* Request bodies may be JSON, form-encoded or multipart (PTB sends form fields whose
  values are JSON-encoded, e.g. ``reply_markup``); GET query strings work too.
* ``getUpdates`` long-polls: it returns updates with ``update_id >= offset`` (and
  forgets the ones below it), or waits up to ``timeout`` seconds for one. As on
  Telegram, ``chat_member`` (and reaction) updates are only delivered when asked
  for in ``allowed_updates`` (the last list given is remembered), and ``chat_member``
  updates only exist for chats where the bot is an administrator. While a webhook
  is set, ``getUpdates`` fails with 409; a newer ``getUpdates`` ends a waiting one
  with 409 too.
* ``setWebhook`` makes the server POST every update to the URL (see
  :mod:`fsv_bot.fake_webhook`): with ``X-Telegram-Bot-Api-Secret-Token`` when a
  ``secret_token`` was set, in order per chat, retried with backoff on a non-2xx
  answer or a connection error; ``deleteWebhook`` stops it. Any port is accepted
  (Telegram allows 443, 80, 88 and 8443); ``webhook_cafile`` names the CA to trust
  for a self-signed certificate (Telegram: the one uploaded with ``setWebhook``).
* ``restrictChatMember`` needs a supergroup and a bot with ``can_restrict_members``.
  The member becomes ``restricted`` unless the permissions given cover every
  permission the chat grants by default (see ``add_group(permissions=...)``), in
  which case they are a plain ``member`` again; omitted permissions count as
  ``False``. Restricting, banning and unbanning emit ``chat_member`` updates.
* Editing a message to what it already is fails with "message is not modified".

The helpers, by job:

* world: :meth:`~FakeBotApi.add_user`, :meth:`~FakeBotApi.add_group`,
  :meth:`~FakeBotApi.add_channel`, :meth:`~FakeBotApi.set_member` (silent);
  read it back with :meth:`~FakeBotApi.status`, :meth:`~FakeBotApi.member`,
  :meth:`~FakeBotApi.can_send_messages`;
* updates: :meth:`~FakeBotApi.send_message`, :meth:`~FakeBotApi.join`,
  :meth:`~FakeBotApi.leave`, :meth:`~FakeBotApi.change_member`,
  :meth:`~FakeBotApi.press_button`, :meth:`~FakeBotApi.inject_update` (raw);
* what the bot did: :attr:`~FakeBotApi.calls`, :meth:`~FakeBotApi.calls_to`,
  :meth:`~FakeBotApi.last_call`, :meth:`~FakeBotApi.sent_messages`,
  :meth:`~FakeBotApi.last_sent`, :meth:`~FakeBotApi.message`,
  :meth:`~FakeBotApi.is_deleted`, :meth:`~FakeBotApi.callback_answer`,
  :attr:`~FakeBotApi.pending_updates`, :attr:`~FakeBotApi.updates_delivered`,
  :attr:`~FakeBotApi.polls_waiting`, :attr:`~FakeBotApi.webhook` (deliveries and their
  counters); wait for it with
  :meth:`~FakeBotApi.wait_for_call` and :meth:`~FakeBotApi.wait_until`;
* failures: :meth:`~FakeBotApi.fail_next`.

Not modelled: files (a webhook's uploaded certificate included), inline mode, payments,
forum topics; restriction end dates do not lift by themselves.

The server is built from modules with one job each, imported one way (each only from
the ones before it):

* :mod:`fsv_bot.fake_world`: the state (users, chats, members, messages, pending
  updates) and the rules shared by the bot's and the users' side (statuses,
  permissions, the ``chat_member`` updates a change produces, ``allowed_updates``);
* :mod:`fsv_bot.fake_webhook`: delivering updates to a webhook;
* :mod:`fsv_bot.fake_methods`: the Bot API methods and their errors (:class:`ApiError`),
  ``getUpdates``' long poll, the webhook settings, scripted failures;
* :mod:`fsv_bot.fake_server`: HTTP: the aiohttp app and its thread and loop, decoding
  parameters, answers in the wire format, the log of calls (:class:`Call`);
* this module: :class:`FakeBotApi`, which puts them together and holds the helpers
  (what users do, what tests inspect and wait for).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import anyio

from fsv_bot.fake_methods import ApiError, BotApiMethods
from fsv_bot.fake_server import BotApiServer, Call
from fsv_bot.fake_webhook import WebhookDelivery
from fsv_bot.fake_world import (
    ADMIN_RIGHTS,
    JSON,
    PERMISSIONS,
    Chat,
    Member,
    MemberStatus,
    World,
    default_permissions,
)

__all__ = [
    "ADMIN_RIGHTS",
    "PERMISSIONS",
    "ApiError",
    "Call",
    "FakeBotApi",
    "MemberStatus",
]

_T = TypeVar("_T")


class FakeBotApi:
    """A local HTTP server speaking the Telegram Bot API, with a world tests can script.

    ``token`` is the only token accepted (others get 401); its numeric prefix is the
    bot's user id, as on Telegram. Start it with :meth:`start` (or ``with``) and point
    the bot at :attr:`base_url`. ``webhook_cafile``: a PEM file of the CA certificates
    trusted when calling an ``https://`` webhook (default: the system's).
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "test_verify_bot",
        bot_name: str = "Test Verify Bot",
        host: str = "127.0.0.1",
        webhook_cafile: str | os.PathLike[str] | None = None,
    ) -> None:
        self.token = token
        self.host = host
        self.bot_id = int(token.split(":", 1)[0])
        self._world = World(self.bot_id, bot_name=bot_name, bot_username=bot_username)
        self._lock = self._world.lock
        self._methods = BotApiMethods(self._world, webhook_cafile=webhook_cafile)
        self._server = BotApiServer(self._methods, token=token, host=host)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotApi:
        """Start serving on a free port (returns ``self``); :meth:`stop` ends it."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving: waiting ``getUpdates`` calls return at once, connections close."""
        self._server.stop()

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._server.port

    @property
    def base_url(self) -> str:
        """The value for PTB's ``base_url``: ``http://127.0.0.1:<port>/bot``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def url(self) -> str:
        """The full method prefix for this bot: ``http://127.0.0.1:<port>/bot<token>/``."""
        return f"{self.base_url}{self.token}/"

    # ------------------------------------------------------------------ scripting failures

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with this error.

        ``description`` defaults to Telegram's wording for the code (for 429:
        ``"Too Many Requests: retry after N"``). ``retry_after`` adds
        ``parameters.retry_after`` (PTB raises ``RetryAfter``); it defaults to 5 for 429.
        Failures queue up in order.
        """
        self._methods.fail_next(method, error_code, description, retry_after, times)

    # ------------------------------------------------------------------ the world

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
        """Create (or replace) a Telegram user; returns its ``User`` JSON."""
        return self._world.add_user(
            user_id,
            first_name,
            username=username,
            last_name=last_name,
            is_bot=is_bot,
            language_code=language_code,
        )

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        username: str | None = None,
        supergroup: bool = True,
        owner_id: int | None = None,
        bot_status: MemberStatus = "administrator",
        bot_rights: Mapping[str, bool] | None = None,
        permissions: Mapping[str, bool] | None = None,
    ) -> JSON:
        """Create a group (a supergroup unless ``supergroup=False``); returns its ``Chat``.

        The bot joins with ``bot_status`` (an administrator with :data:`ADMIN_RIGHTS`
        by default; override single rights with ``bot_rights``). ``permissions`` are the
        chat's default member permissions, all ``True`` but ``can_manage_topics`` and
        ``can_edit_tag`` unless given (missing keys keep those defaults).
        """
        chat = Chat(
            chat_id,
            "supergroup" if supergroup else "group",
            title=title,
            username=username,
            permissions={**default_permissions(), **(permissions or {})},
        )
        with self._lock:
            return self._world.add_chat(
                chat, owner_id=owner_id, bot_status=bot_status, bot_rights=bot_rights
            )

    def add_channel(
        self,
        chat_id: int,
        title: str,
        *,
        username: str | None = None,
        owner_id: int | None = None,
        bot_status: MemberStatus = "administrator",
        bot_rights: Mapping[str, bool] | None = None,
    ) -> JSON:
        """Create a channel; the bot is an administrator of it unless ``bot_status`` says else."""
        chat = Chat(chat_id, "channel", title=title, username=username)
        with self._lock:
            return self._world.add_chat(
                chat, owner_id=owner_id, bot_status=bot_status, bot_rights=bot_rights
            )

    def set_member(
        self,
        chat_id: int,
        user_id: int,
        status: MemberStatus,
        *,
        until_date: int = 0,
        is_member: bool = True,
        permissions: Mapping[str, bool] | None = None,
        rights: Mapping[str, bool] | None = None,
        custom_title: str | None = None,
    ) -> JSON:
        """Put a user in a chat with ``status``, silently (no update); returns the ChatMember.

        ``restricted`` members get ``permissions`` (missing ones ``False``) and
        ``is_member``; ``administrator`` ones get :data:`ADMIN_RIGHTS` overridden by
        ``rights``; ``kicked`` and ``restricted`` use ``until_date`` (0: forever).
        Unknown users are created with a default name.
        """
        with self._lock:
            return self._world.set_member(
                self._world.chat(chat_id),
                user_id,
                status,
                until_date=until_date,
                is_member=is_member,
                permissions=permissions,
                rights=rights,
                custom_title=custom_title,
            )

    def member(self, chat_id: int, user_id: int) -> JSON:
        """The user's ``ChatMember`` JSON in the chat, as ``getChatMember`` returns it."""
        with self._lock:
            return self._world.member_json(self._world.chat(chat_id), user_id)

    def status(self, chat_id: int, user_id: int) -> MemberStatus:
        """The user's status in the chat (``left`` if never there)."""
        with self._lock:
            return self._world.status(self._world.chat(chat_id), user_id)

    def can_send_messages(self, chat_id: int, user_id: int) -> bool:
        """Whether the user may write in the chat now (a member, and not muted)."""
        with self._lock:
            return self._world.can_send_messages(self._world.chat(chat_id), user_id)

    # ------------------------------------------------------------------ injecting updates

    def inject_update(self, update: JSON) -> JSON:
        """Queue a raw update (its ``update_id`` is assigned); returns it, numbered."""
        return self._world.inject_update(update)

    def send_message(
        self, chat_id: int, user_id: int, text: str, *, reply_to_message_id: int | None = None
    ) -> JSON:
        """A user sends ``text`` to a group (or, with ``chat_id == user_id``, to the bot).

        Queues a ``message`` update and returns the Message. A ``/command`` gets its
        ``bot_command`` entity. A user with no status in the group becomes a member;
        one who left, was banned or is muted cannot write (``PermissionError``).
        """
        world = self._world
        with self._lock:
            user = world.user(user_id)
            chat = world.chat(chat_id)
            if chat.type == "channel":
                raise ValueError("users do not write in channels; the channel posts")
            if chat.type != "private":
                if user_id not in chat.members:
                    world.set_member(chat, user_id, "member")
                if not world.can_send_messages(chat, user_id):
                    raise PermissionError(
                        f"user {user_id} cannot write in chat {chat_id}: "
                        f"status {world.status(chat, user_id)!r}"
                    )
            content: JSON = {"text": text}
            if text.startswith("/"):
                length = len(text.split(maxsplit=1)[0])
                content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            if reply_to_message_id is not None:
                content["reply_to_message"] = world.message(chat_id, reply_to_message_id)
            message = world.new_message(chat, user, content)
        world.inject_update({"message": message})
        return copy.deepcopy(message)

    def join(
        self,
        chat_id: int,
        user_id: int,
        *,
        service_message: bool = True,
        invite_link: JSON | None = None,
    ) -> JSON:
        """A user joins a group or channel; returns their new ChatMember.

        Queues a ``chat_member`` update (when the bot is an admin there) and, in
        groups, a ``new_chat_members`` service message (unless ``service_message``
        is false). A muted user who rejoins stays muted. Joining a chat one is already
        in is a ``ValueError``; a banned user gets ``PermissionError``.
        """
        world = self._world
        with self._lock:
            chat = world.chat(chat_id)
            member = chat.members.get(user_id)
            if world.in_chat(chat, user_id):
                raise ValueError(f"user {user_id} is already in chat {chat_id}")
            if member is not None and member.status == "kicked":
                raise PermissionError(f"user {user_id} is banned from chat {chat_id}")
            if member is not None and member.status == "restricted":
                new = dataclasses.replace(member, is_member=True)
            else:
                new = Member("member")
            world.change_member(chat, user_id, new, actor_id=user_id, invite_link=invite_link)
            if service_message and chat.type != "channel":
                user = world.user(user_id)
                message = world.new_message(chat, user, {"new_chat_members": [user]})
                world.inject_update({"message": message})
            return world.member_json(chat, user_id)

    def leave(self, chat_id: int, user_id: int, *, service_message: bool = True) -> JSON:
        """A user leaves a group or channel; returns their new ChatMember.

        Queues a ``chat_member`` update (old and new member; when the bot is an admin
        there) and, in groups, a ``left_chat_member`` service message. Leaving a chat
        one is not in is a ``ValueError`` (no update would be sent).
        """
        world = self._world
        with self._lock:
            chat = world.chat(chat_id)
            member = chat.members.get(user_id)
            if not world.in_chat(chat, user_id):
                raise ValueError(
                    f"user {user_id} is not in chat {chat_id} "
                    f"(status {world.status(chat, user_id)!r}): set_member or join first"
                )
            if member is not None and member.status == "restricted":
                new = dataclasses.replace(member, is_member=False)
            else:
                new = Member("left")
            world.change_member(chat, user_id, new, actor_id=user_id)
            if service_message and chat.type != "channel":
                user = world.user(user_id)
                message = world.new_message(chat, user, {"left_chat_member": user})
                world.inject_update({"message": message})
            return world.member_json(chat, user_id)

    def change_member(
        self,
        chat_id: int,
        user_id: int,
        status: MemberStatus,
        *,
        by: int | None = None,
        until_date: int = 0,
        is_member: bool = True,
        permissions: Mapping[str, bool] | None = None,
        rights: Mapping[str, bool] | None = None,
    ) -> JSON | None:
        """Change a member's status as user ``by`` (default: an owner) did.

        Queues a ``chat_member`` update, or ``my_chat_member`` when ``user_id`` is
        the bot (e.g. the bot is demoted or removed), and returns it; ``None`` when
        nothing changed or Telegram would not tell the bot (it is no admin there).
        """
        world = self._world
        with self._lock:
            chat = world.chat(chat_id)
            new = world.new_member(chat, status, until_date, is_member, permissions, None, rights)
            actor = by if by is not None else world.owner_or_user(chat, user_id)
            return world.change_member(chat, user_id, new, actor_id=actor)

    def press_button(
        self,
        message: JSON,
        *,
        user_id: int,
        text: str | None = None,
        data: str | None = None,
    ) -> str:
        """A user presses an inline button of a message the bot sent; returns the query id.

        ``message`` is a Message (e.g. from :meth:`last_sent`); its current version is
        used. The button is picked by ``text`` or callback ``data``, or is the only
        callback button. Queues a ``callback_query`` update.
        """
        world = self._world
        with self._lock:
            chat_id = message["chat"]["id"]
            current = world.message(chat_id, message["message_id"])
            buttons = [
                button
                for row in current.get("reply_markup", {}).get("inline_keyboard", [])
                for button in row
            ]
            matching = [
                button
                for button in buttons
                if "callback_data" in button
                and (text is None or button["text"] == text)
                and (data is None or button["callback_data"] == data)
            ]
            if len(matching) != 1:
                found = [(b["text"], b.get("callback_data")) for b in buttons]
                raise LookupError(
                    f"no single callback button matching text={text!r} data={data!r} "
                    f"in message {message['message_id']}; buttons: {found}"
                )
            query_id = world.open_callback_query()
            query = {
                "id": query_id,
                "from": world.user(user_id),
                "message": current,
                "chat_instance": str(abs(chat_id) * 31 + 7),
                "data": matching[0]["callback_data"],
            }
        world.inject_update({"callback_query": query})
        return query_id

    # ------------------------------------------------------------------ inspecting

    @property
    def calls(self) -> list[Call]:
        """Every request answered so far, oldest first (``getUpdates`` included)."""
        return self._server.calls()

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one method (case-insensitive), oldest first."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def last_call(self, method: str) -> Call:
        """The latest call of ``method``; ``LookupError`` if there is none."""
        calls = self.calls_to(method)
        if not calls:
            raise LookupError(f"{method} was never called")
        return calls[-1]

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        self._server.clear_calls()

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        """Messages the bot sent and did not delete, as they are now (after edits)."""
        with self._lock:
            return self._world.sent_messages(chat_id)

    def last_sent(self, chat_id: int | None = None) -> JSON:
        """The bot's latest message still standing (in ``chat_id``); ``LookupError`` if none."""
        messages = self.sent_messages(chat_id)
        if not messages:
            raise LookupError(f"the bot has no message in chat {chat_id}")
        return messages[-1]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """Any message (from the bot or a user) as it is now; ``None`` if deleted or unknown."""
        with self._lock:
            try:
                return self._world.message(chat_id, message_id)
            except LookupError:
                return None

    def is_deleted(self, chat_id: int, message_id: int) -> bool:
        """Whether ``deleteMessage`` removed this message."""
        with self._lock:
            return self._world.is_deleted(chat_id, message_id)

    def callback_answer(self, query_id: str) -> JSON | None:
        """The params of ``answerCallbackQuery`` for this query; ``None`` while unanswered."""
        with self._lock:
            return self._world.callback_answer(query_id)

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a later ``getUpdates`` offset."""
        with self._lock:
            return self._world.pending_updates()

    @property
    def polls_waiting(self) -> int:
        """``getUpdates`` calls the server has received and not yet answered."""
        return self._methods.polls_waiting

    @property
    def updates_delivered(self) -> int:
        """How many distinct updates ``getUpdates`` handed out or the webhook accepted."""
        with self._lock:
            return self._world.delivered

    @property
    def webhook(self) -> WebhookDelivery:
        """The webhook delivery: its attempts, counters, and ``pause()``/``resume()``."""
        return self._methods.webhook

    # ------------------------------------------------------------------ waiting

    def mark(self) -> int:
        """The number of calls so far: pass it as ``since`` to :meth:`wait_for_call`."""
        return self._server.call_count

    async def wait_for_call(
        self,
        method: str,
        where: Callable[[Call], bool] | None = None,
        *,
        since: int = 0,
        within: float = 5.0,
    ) -> Call:
        """Wait until ``method`` was called (at index ``since`` or later, matching ``where``).

        Polls, so it works on any event loop; ``TimeoutError`` after ``within`` seconds.
        """

        def found() -> Call | None:
            for call in self._server.calls(since):
                if call.method.lower() == method.lower() and (where is None or where(call)):
                    return call
            return None

        return await self._poll(found, within, f"no {method} call")

    async def wait_until(self, predicate: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (polled); ``TimeoutError`` after ``within`` s."""
        await self._poll(lambda: True if predicate() else None, within, "condition not met")

    async def _poll(self, probe: Callable[[], _T | None], within: float, what: str) -> _T:
        deadline = time.monotonic() + within
        while True:
            value = probe()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {within} s")
            await anyio.sleep(0.01)
