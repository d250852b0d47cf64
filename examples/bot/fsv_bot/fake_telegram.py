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
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import anyio
from aiohttp import web

from fsv_bot.fake_webhook import Webhook, WebhookDelivery

__all__ = [
    "ADMIN_RIGHTS",
    "PERMISSIONS",
    "ApiError",
    "Call",
    "FakeBotApi",
    "MemberStatus",
]

JSON = dict[str, Any]
_T = TypeVar("_T")
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

#: Updates Telegram leaves out unless ``allowed_updates`` names them.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
#: Parameters that are plain strings even when they look like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "custom_title",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "title",
        "description",
        "name",
    }
)
_IN_CHAT = ("creator", "administrator", "member")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> JSON:
        """The JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class Call:
    """One request the server answered: the method, its decoded params and the response."""

    #: The Bot API method, as the client spelled it.
    method: str
    #: The decoded request parameters.
    params: JSON
    #: The JSON body the server answered with.
    response: JSON
    #: When the server answered (``time.monotonic()``, the server's own clock).
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        """Whether the answer was ``ok: true``."""
        return bool(self.response["ok"])

    @property
    def result(self) -> Any:
        """The ``result`` of a successful call (``None`` for a failed one)."""
        return self.response.get("result")


@dataclass
class _Member:
    status: MemberStatus
    until_date: int = 0
    is_member: bool = False  # for "restricted"
    permissions: dict[str, bool] = field(default_factory=dict)  # for "restricted"
    rights: dict[str, bool] = field(default_factory=dict)  # for "administrator"
    custom_title: str | None = None


@dataclass
class _Chat:
    id: int
    type: Literal["private", "group", "supergroup", "channel"]
    title: str | None = None
    username: str | None = None
    description: str | None = None
    permissions: dict[str, bool] = field(default_factory=dict)
    members: dict[int, _Member] = field(default_factory=dict)
    next_message_id: int = 1


@dataclass
class _Failure:
    error: ApiError
    times: int


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
        self._lock = threading.RLock()
        self._users: dict[int, JSON] = {
            self.bot_id: {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": bot_name,
                "username": bot_username,
            }
        }
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._callbacks: dict[str, JSON | None] = {}  # query id -> answer params (None: open)
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._last_delivered_id = 0
        self._delivered = 0
        self._allowed: frozenset[str] | None = None  # None: Telegram's default set
        self._webhook: JSON = {"url": ""}
        self._commands: dict[str, list[JSON]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._calls: list[Call] = []
        self._poll_generation = 0
        self._polls_waiting = 0
        # Owned by the server thread:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._waiters: set[asyncio.Event] = set()
        self._closing = False
        self._port = 0
        context = None if webhook_cafile is None else ssl.create_default_context(
            cafile=os.fspath(webhook_cafile))
        self._webhook_delivery = WebhookDelivery(
            self._webhook_waiting, self._webhook_settled, ssl_context=context)
        # lower-case name -> (canonical name, handler); Telegram matches names case-insensitively.
        self._methods: dict[str, tuple[str, Callable[[JSON], Any]]] = {
            attr[5:].lower(): (attr[5:], getattr(self, attr))
            for attr in dir(type(self))
            if attr.startswith("_api_")
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotApi:
        """Start serving on a free port (returns ``self``); :meth:`stop` ends it."""
        if self._thread is not None:
            raise RuntimeError("FakeBotApi is already started")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, errors), name="fake-bot-api", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError("fake Bot API server did not start") from (
                errors[0] if errors else None
            )
        return self

    def stop(self) -> None:
        """Stop serving: waiting ``getUpdates`` calls return at once, connections close."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        self._thread = self._loop = None

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return self._port

    @property
    def base_url(self) -> str:
        """The value for PTB's ``base_url``: ``http://127.0.0.1:<port>/bot``."""
        return f"http://{self.host}:{self._port}/bot"

    @property
    def url(self) -> str:
        """The full method prefix for this bot: ``http://127.0.0.1:<port>/bot<token>/``."""
        return f"{self.base_url}{self.token}/"

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._setup())
        except BaseException as exc:  # reported to start()
            errors.append(exc)
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        await self._webhook_delivery.start()

    async def _shutdown(self) -> None:
        self._closing = True
        self._wake_pollers()
        await self._webhook_delivery.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _wake_pollers(self) -> None:
        for event in self._waiters:
            event.set()

    def _notify(self) -> None:
        """Wake waiting getUpdates calls and the webhook delivery (from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_pollers)
        self._webhook_delivery.wake()

    def _webhook_waiting(self) -> list[JSON]:
        """The updates the webhook is owed, oldest first (the delivery's ``waiting``)."""
        with self._lock:
            self._updates = self._allowed_only(self._updates)
            return list(self._updates)

    def _webhook_settled(self, update_id: int, delivered: bool) -> None:
        """An update left the queue: the webhook took it, or it was given up."""
        with self._lock:
            left = [u for u in self._updates if u["update_id"] != update_id]
            if delivered and len(left) < len(self._updates):
                self._delivered += 1
                self._last_delivered_id = max(self._last_delivered_id, update_id)
            self._updates = left

    # ------------------------------------------------------------------ HTTP

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        known = self._methods.get(name.lower())
        method = known[0] if known else "getUpdates" if name.lower() == "getupdates" else name
        try:
            params = await _read_params(request)
        except ApiError as exc:
            return self._respond(method, {}, exc.body())
        if request.match_info["token"] != self.token:
            return self._respond(method, params, ApiError(401, "Unauthorized").body())
        try:
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                with self._lock:
                    self._check_failure(method)
                    if known is None:
                        raise ApiError(404, f"Not Found: method {name}")
                    result = known[1](params)
        except ApiError as exc:
            return self._respond(method, params, exc.body())
        return self._respond(method, params, {"ok": True, "result": result})

    def _respond(self, method: str, params: JSON, body: JSON) -> web.Response:
        with self._lock:
            self._calls.append(Call(method, params, copy.deepcopy(body)))
        status = 200 if body["ok"] else int(body["error_code"])
        return web.json_response(body, status=status)

    def _check_failure(self, method: str) -> None:
        queue = self._failures.get(method.lower())
        if not queue:
            return
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        raise failure.error

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
        if error_code == 429 and retry_after is None:
            retry_after = 5
        if description is None:
            description = {
                400: "Bad Request: scripted failure",
                401: "Unauthorized",
                403: "Forbidden: bot was blocked by the user",
                404: "Not Found",
                409: "Conflict: scripted failure",
                429: f"Too Many Requests: retry after {retry_after}",
            }.get(error_code, "Internal Server Error")
        with self._lock:
            error = ApiError(error_code, description, retry_after)
            self._failures.setdefault(method.lower(), []).append(_Failure(error, times))

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
        with self._lock:
            self._users[user_id] = user
        return dict(user)

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
        defaults = {name: name not in ("can_manage_topics", "can_edit_tag") for name in PERMISSIONS}
        chat = _Chat(
            chat_id,
            "supergroup" if supergroup else "group",
            title=title,
            username=username,
            permissions={**defaults, **(permissions or {})},
        )
        return self._add_chat(chat, owner_id, bot_status, bot_rights)

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
        chat = _Chat(chat_id, "channel", title=title, username=username)
        return self._add_chat(chat, owner_id, bot_status, bot_rights)

    def _add_chat(
        self,
        chat: _Chat,
        owner_id: int | None,
        bot_status: MemberStatus,
        bot_rights: Mapping[str, bool] | None,
    ) -> JSON:
        if chat.id >= 0:
            raise ValueError("group and channel ids are negative")
        with self._lock:
            self._chats[chat.id] = chat
            if owner_id is not None:
                self.set_member(chat.id, owner_id, "creator")
            self.set_member(chat.id, self.bot_id, bot_status, rights=bot_rights)
            return self._chat_json(chat)

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
            chat = self._chat(chat_id)
            self._ensure_user(user_id)
            chat.members[user_id] = self._new_member(
                chat, status, until_date, is_member, permissions, custom_title, rights
            )
            return self._member_json(chat, user_id)

    def _new_member(
        self,
        chat: _Chat,
        status: MemberStatus,
        until_date: int = 0,
        is_member: bool = True,
        permissions: Mapping[str, bool] | None = None,
        custom_title: str | None = None,
        rights: Mapping[str, bool] | None = None,
    ) -> _Member:
        if status not in ("creator", "administrator", "member", "restricted", "left", "kicked"):
            raise ValueError(f"unknown member status {status!r}")
        member = _Member(status, until_date=until_date, custom_title=custom_title)
        if status == "restricted":
            member.is_member = is_member
            member.permissions = {name: bool((permissions or {}).get(name)) for name in PERMISSIONS}
        if status == "administrator":
            extra = _CHANNEL_ADMIN_RIGHTS if chat.type == "channel" else _GROUP_ADMIN_RIGHTS
            member.rights = {**ADMIN_RIGHTS, **extra, **(rights or {})}
        return member

    def member(self, chat_id: int, user_id: int) -> JSON:
        """The user's ``ChatMember`` JSON in the chat, as ``getChatMember`` returns it."""
        with self._lock:
            return self._member_json(self._chat(chat_id), user_id)

    def status(self, chat_id: int, user_id: int) -> MemberStatus:
        """The user's status in the chat (``left`` if never there)."""
        with self._lock:
            member = self._chat(chat_id).members.get(user_id)
            return member.status if member else "left"

    def can_send_messages(self, chat_id: int, user_id: int) -> bool:
        """Whether the user may write in the chat now (a member, and not muted)."""
        with self._lock:
            member = self._chat(chat_id).members.get(user_id)
            if member is None:
                return False
            if member.status == "restricted":
                return member.is_member and member.permissions["can_send_messages"]
            return member.status in _IN_CHAT

    # ------------------------------------------------------------------ injecting updates

    def inject_update(self, update: JSON) -> JSON:
        """Queue a raw update (its ``update_id`` is assigned); returns it, numbered."""
        with self._lock:
            update = {"update_id": self._next_update_id, **update}
            self._next_update_id += 1
            self._updates.append(update)
        self._notify()
        return copy.deepcopy(update)

    def send_message(
        self, chat_id: int, user_id: int, text: str, *, reply_to_message_id: int | None = None
    ) -> JSON:
        """A user sends ``text`` to a group (or, with ``chat_id == user_id``, to the bot).

        Queues a ``message`` update and returns the Message. A ``/command`` gets its
        ``bot_command`` entity. A user with no status in the group becomes a member;
        one who left, was banned or is muted cannot write (``PermissionError``).
        """
        with self._lock:
            user = self._ensure_user(user_id)
            chat = self._chat(chat_id)
            if chat.type == "channel":
                raise ValueError("users do not write in channels; the channel posts")
            if chat.type != "private":
                if user_id not in chat.members:
                    self.set_member(chat_id, user_id, "member")
                if not self.can_send_messages(chat_id, user_id):
                    raise PermissionError(
                        f"user {user_id} cannot write in chat {chat_id}: "
                        f"status {self.status(chat_id, user_id)!r}"
                    )
            content: JSON = {"text": text}
            if text.startswith("/"):
                length = len(text.split(maxsplit=1)[0])
                content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            if reply_to_message_id is not None:
                content["reply_to_message"] = self._message(chat_id, reply_to_message_id)
            message = self._new_message(chat, user, content)
        self.inject_update({"message": message})
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
        with self._lock:
            chat = self._chat(chat_id)
            member = chat.members.get(user_id)
            if self._in_chat(chat, user_id):
                raise ValueError(f"user {user_id} is already in chat {chat_id}")
            if member is not None and member.status == "kicked":
                raise PermissionError(f"user {user_id} is banned from chat {chat_id}")
            if member is not None and member.status == "restricted":
                new = dataclasses.replace(member, is_member=True)
            else:
                new = _Member("member")
            self._change_member(chat, user_id, new, actor_id=user_id, invite_link=invite_link)
            if service_message and chat.type != "channel":
                user = self._ensure_user(user_id)
                message = self._new_message(chat, user, {"new_chat_members": [user]})
                self.inject_update({"message": message})
            return self._member_json(chat, user_id)

    def leave(self, chat_id: int, user_id: int, *, service_message: bool = True) -> JSON:
        """A user leaves a group or channel; returns their new ChatMember.

        Queues a ``chat_member`` update (old and new member; when the bot is an admin
        there) and, in groups, a ``left_chat_member`` service message. Leaving a chat
        one is not in is a ``ValueError`` (no update would be sent).
        """
        with self._lock:
            chat = self._chat(chat_id)
            member = chat.members.get(user_id)
            if not self._in_chat(chat, user_id):
                raise ValueError(
                    f"user {user_id} is not in chat {chat_id} "
                    f"(status {self.status(chat_id, user_id)!r}): set_member or join first"
                )
            if member is not None and member.status == "restricted":
                new = dataclasses.replace(member, is_member=False)
            else:
                new = _Member("left")
            self._change_member(chat, user_id, new, actor_id=user_id)
            if service_message and chat.type != "channel":
                user = self._ensure_user(user_id)
                message = self._new_message(chat, user, {"left_chat_member": user})
                self.inject_update({"message": message})
            return self._member_json(chat, user_id)

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
        with self._lock:
            chat = self._chat(chat_id)
            new = self._new_member(chat, status, until_date, is_member, permissions, None, rights)
            actor = by if by is not None else self._owner_or_user(chat, user_id)
            return self._change_member(chat, user_id, new, actor_id=actor)

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
        with self._lock:
            chat_id = message["chat"]["id"]
            current = self._message(chat_id, message["message_id"])
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
            query_id = str(4_000_000_000 + len(self._callbacks))
            self._callbacks[query_id] = None
            query = {
                "id": query_id,
                "from": self._ensure_user(user_id),
                "message": current,
                "chat_instance": str(abs(chat_id) * 31 + 7),
                "data": matching[0]["callback_data"],
            }
        self.inject_update({"callback_query": query})
        return query_id

    def _change_member(
        self,
        chat: _Chat,
        user_id: int,
        new: _Member,
        *,
        actor_id: int,
        invite_link: JSON | None = None,
    ) -> JSON | None:
        """Set a member and queue the chat_member / my_chat_member update Telegram sends."""
        old_json = self._member_json(chat, user_id)
        chat.members[user_id] = new
        new_json = self._member_json(chat, user_id)
        if old_json == new_json:
            return None
        kind = "my_chat_member" if user_id == self.bot_id else "chat_member"
        if kind == "chat_member" and self.status(chat.id, self.bot_id) not in (
            "creator",
            "administrator",
        ):
            return None  # Telegram only tells administrators about other members.
        event = {
            "chat": self._chat_json(chat),
            "from": self._ensure_user(actor_id),
            "date": _now(),
            "old_chat_member": old_json,
            "new_chat_member": new_json,
        }
        if invite_link is not None:
            event["invite_link"] = invite_link
        return self.inject_update({kind: event})

    def _in_chat(self, chat: _Chat, user_id: int) -> bool:
        member = chat.members.get(user_id)
        if member is None:
            return False
        return member.status in _IN_CHAT or (member.status == "restricted" and member.is_member)

    def _owner_or_user(self, chat: _Chat, user_id: int) -> int:
        owners = [uid for uid, m in chat.members.items() if m.status == "creator"]
        return owners[0] if owners else user_id

    # ------------------------------------------------------------------ inspecting

    @property
    def calls(self) -> list[Call]:
        """Every request answered so far, oldest first (``getUpdates`` included)."""
        with self._lock:
            return list(self._calls)

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
        with self._lock:
            self._calls.clear()

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        """Messages the bot sent and did not delete, as they are now (after edits)."""
        with self._lock:
            return [
                copy.deepcopy(msg)
                for key, msg in self._messages.items()
                if key not in self._deleted
                and self._is_from_bot(msg)
                and (chat_id is None or key[0] == chat_id)
            ]

    def last_sent(self, chat_id: int | None = None) -> JSON:
        """The bot's latest message still standing (in ``chat_id``); ``LookupError`` if none."""
        messages = self.sent_messages(chat_id)
        if not messages:
            raise LookupError(f"the bot has no message in chat {chat_id}")
        return messages[-1]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """Any message (from the bot or a user) as it is now; ``None`` if deleted or unknown."""
        with self._lock:
            key = (chat_id, message_id)
            if key in self._deleted or key not in self._messages:
                return None
            return copy.deepcopy(self._messages[key])

    def is_deleted(self, chat_id: int, message_id: int) -> bool:
        """Whether ``deleteMessage`` removed this message."""
        with self._lock:
            return (chat_id, message_id) in self._deleted

    def callback_answer(self, query_id: str) -> JSON | None:
        """The params of ``answerCallbackQuery`` for this query; ``None`` while unanswered."""
        with self._lock:
            return self._callbacks.get(query_id)

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a later ``getUpdates`` offset."""
        with self._lock:
            return copy.deepcopy(self._updates)

    @property
    def polls_waiting(self) -> int:
        """``getUpdates`` calls the server has received and not yet answered."""
        with self._lock:
            return self._polls_waiting

    @property
    def updates_delivered(self) -> int:
        """How many distinct updates ``getUpdates`` handed out or the webhook accepted."""
        with self._lock:
            return self._delivered

    @property
    def webhook(self) -> WebhookDelivery:
        """The webhook delivery: its attempts, counters, and ``pause()``/``resume()``."""
        return self._webhook_delivery

    def mark(self) -> int:
        """The number of calls so far: pass it as ``since`` to :meth:`wait_for_call`."""
        with self._lock:
            return len(self._calls)

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
            with self._lock:
                calls = self._calls[since:]
            for call in calls:
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

    # ------------------------------------------------------------------ JSON builders

    def _ensure_user(self, user_id: int) -> JSON:
        if user_id not in self._users:
            self.add_user(user_id)
        return dict(self._users[user_id])

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None and chat_id > 0 and chat_id in self._users:
            chat = _Chat(chat_id, "private")
            self._chats[chat_id] = chat
        if chat is None:
            raise LookupError(f"chat {chat_id} does not exist: add_group/add_channel first")
        return chat

    def _chat_json(self, chat: _Chat) -> JSON:
        if chat.type == "private":
            user = self._users[chat.id]
            keys = ("first_name", "last_name", "username")
            return {"id": chat.id, "type": "private", **{k: user[k] for k in keys if k in user}}
        return _strip(
            {"id": chat.id, "type": chat.type, "title": chat.title, "username": chat.username}
        )

    def _full_chat_json(self, chat: _Chat) -> JSON:
        info: JSON = {
            **self._chat_json(chat),
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

    def _member_json(self, chat: _Chat, user_id: int) -> JSON:
        member = chat.members.get(user_id) or _Member("left")
        body: JSON = {"status": member.status, "user": self._ensure_user(user_id)}
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

    def _new_message(self, chat: _Chat, sender: JSON, content: JSON) -> JSON:
        message: JSON = {
            "message_id": chat.next_message_id,
            "date": _now(),
            "chat": self._chat_json(chat),
        }
        chat.next_message_id += 1
        if chat.type == "channel":
            message["sender_chat"] = self._chat_json(chat)
        else:
            message["from"] = sender
        message.update(content)
        self._messages[(chat.id, message["message_id"])] = message
        return copy.deepcopy(message)

    def _message(self, chat_id: int, message_id: int) -> JSON:
        key = (chat_id, message_id)
        if key not in self._messages or key in self._deleted:
            raise LookupError(f"message {message_id} in chat {chat_id} does not exist")
        return copy.deepcopy(self._messages[key])

    def _is_from_bot(self, message: JSON) -> bool:
        sender = message.get("from", {}).get("id")
        return sender == self.bot_id or (sender is None and "sender_chat" in message)

    # ------------------------------------------------------------------ API methods

    def _api_getMe(self, params: JSON) -> JSON:
        return {
            **self._users[self.bot_id],
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        with self._lock:
            self._check_failure("getUpdates")
            if self._webhook["url"]:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            offset = _int(params, "offset", 0)
            limit = min(max(_int(params, "limit", 100), 1), 100)
            timeout = min(max(_number(params, "timeout", 0), 0), 50)
            if "allowed_updates" in params:
                self._set_allowed(params["allowed_updates"])
            self._poll_generation += 1
            generation = self._poll_generation
            self._polls_waiting += 1
        try:
            return await self._long_poll(generation, offset, limit, time.monotonic() + timeout)
        finally:
            with self._lock:
                self._polls_waiting -= 1

    async def _long_poll(self, generation: int, offset: int, limit: int,
                         deadline: float) -> list[JSON]:
        self._wake_pollers()  # an older waiting call now ends with 409
        while True:
            with self._lock:
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                updates = self._take_updates(offset, limit)
            remaining = deadline - time.monotonic()
            if updates or remaining <= 0 or self._closing:
                return updates
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                self._waiters.discard(event)

    def _take_updates(self, offset: int, limit: int) -> list[JSON]:
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

    def _allowed_only(self, updates: list[JSON]) -> list[JSON]:
        """The updates of kinds the bot allowed: Telegram never delivers the others."""
        allowed = self._allowed
        kept = []
        for update in updates:
            kind = next(k for k in update if k != "update_id")
            if (kind in allowed) if allowed is not None else (kind not in _OPT_IN_UPDATES):
                kept.append(update)
        return kept

    def _set_allowed(self, allowed: Any) -> None:
        if not isinstance(allowed, list):
            raise _bad("can't parse allowed_updates JSON array")
        self._allowed = frozenset(allowed) if allowed else None

    def _api_getChat(self, params: JSON) -> JSON:
        return self._full_chat_json(self._chat_param(params))

    def _api_getChatMember(self, params: JSON) -> JSON:
        chat = self._chat_param(params)
        user_id = self._user_param(params)
        if chat.type == "channel" and not self._bot_is_admin(chat):
            raise _bad("member list is inaccessible")
        return self._member_json(chat, user_id)

    def _api_getChatMemberCount(self, params: JSON) -> int:
        chat = self._chat_param(params)
        return sum(self._in_chat(chat, user_id) for user_id in chat.members)

    def _api_getChatAdministrators(self, params: JSON) -> list[JSON]:
        chat = self._chat_param(params)
        if chat.type == "channel" and not self._bot_is_admin(chat):
            raise _bad("member list is inaccessible")
        admins = sorted(
            (uid for uid, m in chat.members.items() if m.status in ("creator", "administrator")),
            key=lambda uid: chat.members[uid].status != "creator",
        )
        return [self._member_json(chat, uid) for uid in admins]

    def _api_restrictChatMember(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        if chat.type != "supergroup":
            raise _bad("method is available only for supergroups")
        user_id = self._moderated_user(chat, params, "restrict/unrestrict")
        raw = _json(params, "permissions")
        if not isinstance(raw, dict):
            raise _bad("can't parse permissions JSON object")
        perms = {name: bool(raw.get(name, False)) for name in PERMISSIONS}
        if not _bool(params, "use_independent_chat_permissions"):
            if any(perms[n] for n in ("can_send_other_messages", "can_add_web_page_previews")):
                perms.update(dict.fromkeys(("can_send_messages", *_MEDIA), True))
            if perms["can_send_polls"]:
                perms["can_send_messages"] = True
        in_chat = self._in_chat(chat, user_id)
        if all(perms[name] for name, granted in chat.permissions.items() if granted):
            new = _Member("member" if in_chat else "left")
        else:
            new = _Member(
                "restricted",
                until_date=_int(params, "until_date", 0),
                is_member=in_chat,
                permissions=perms,
            )
        self._change_member(chat, user_id, new, actor_id=self.bot_id)
        return True

    def _api_banChatMember(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        user_id = self._moderated_user(chat, params, "restrict/unrestrict")
        until = _int(params, "until_date", 0)
        self._change_member(
            chat, user_id, _Member("kicked", until_date=until), actor_id=self.bot_id
        )
        return True

    def _api_unbanChatMember(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        user_id = self._moderated_user(chat, params, "restrict/unrestrict")
        status = self.status(chat.id, user_id)
        if status == "kicked" or not _bool(params, "only_if_banned"):
            # Without only_if_banned, Telegram also removes a current member.
            self._change_member(chat, user_id, _Member("left"), actor_id=self.bot_id)
        return True

    def _moderated_user(self, chat: _Chat, params: JSON, action: str) -> int:
        user_id = self._user_param(params)
        bot = chat.members.get(self.bot_id)
        if bot is None or not (
            bot.status == "creator"
            or (bot.status == "administrator" and bot.rights.get("can_restrict_members"))
        ):
            raise _bad(f"not enough rights to {action} chat member")
        if user_id == self.bot_id:
            raise _bad("can't restrict self")
        status = self.status(chat.id, user_id)
        if status == "creator":
            raise _bad("can't remove chat owner")
        if status == "administrator":
            raise _bad("user is an administrator of the chat")
        return user_id

    def _api_sendMessage(self, params: JSON) -> JSON:
        chat = self._chat_param(params)
        text = _str(params, "text")
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > 4096:
            raise _bad("message is too long")
        if chat.type == "channel":
            bot = chat.members.get(self.bot_id)
            if bot is None or not (bot.status == "creator" or bot.rights.get("can_post_messages")):
                raise _bad("need administrator rights in the channel chat")
        elif chat.type != "private" and not self.can_send_messages(chat.id, self.bot_id):
            raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        content: JSON = {"text": text}
        for key in ("entities", "reply_markup", "message_thread_id"):
            if key in params:
                content[key] = _json(params, key)
        reply_to = _json(params, "reply_parameters")
        reply_id = reply_to.get("message_id") if isinstance(reply_to, dict) else None
        reply_id = reply_id or _int(params, "reply_to_message_id", 0)
        if reply_id:
            try:
                content["reply_to_message"] = self._message(chat.id, int(reply_id))
            except LookupError:
                allow = isinstance(reply_to, dict) and reply_to.get("allow_sending_without_reply")
                if not allow:
                    raise _bad("message to be replied not found") from None
        return self._new_message(chat, self._users[self.bot_id], content)

    def _api_editMessageText(self, params: JSON) -> JSON:
        text = _str(params, "text")
        if not text.strip():
            raise _bad("text must be non-empty")
        return self._edit(params, {"text": text})

    def _api_editMessageReplyMarkup(self, params: JSON) -> JSON:
        return self._edit(params, {})

    def _edit(self, params: JSON, changes: JSON) -> JSON:
        if "inline_message_id" in params:
            raise _bad("inline messages are not supported by the fake Bot API")
        chat = self._chat_param(params)
        key = (chat.id, _int(params, "message_id"))
        if key not in self._messages or key in self._deleted:
            raise _bad("message to edit not found")
        message = self._messages[key]
        if not self._is_from_bot(message):
            raise _bad("message can't be edited")
        markup = _json(params, "reply_markup") if "reply_markup" in params else None
        if markup is not None:
            changes["reply_markup"] = markup
        before = {k: message.get(k) for k in ("text", "reply_markup")}
        after = {**before, **changes, "reply_markup": markup}
        if after == before:
            raise _bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message.update(changes)
        if markup is None:
            message.pop("reply_markup", None)  # an edit without a keyboard removes it
        message["edit_date"] = _now()
        return copy.deepcopy(message)

    def _api_deleteMessage(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        key = (chat.id, _int(params, "message_id"))
        if key not in self._messages or key in self._deleted:
            raise _bad("message to delete not found")
        message = self._messages[key]
        bot = chat.members.get(self.bot_id)
        may_delete = bot is not None and (
            bot.status == "creator" or bot.rights.get("can_delete_messages", False)
        )
        if not (self._is_from_bot(message) or may_delete or chat.type == "private"):
            raise _bad("message can't be deleted")
        self._deleted.add(key)
        return True

    def _api_answerCallbackQuery(self, params: JSON) -> bool:
        query_id = _str(params, "callback_query_id")
        if query_id not in self._callbacks or self._callbacks[query_id] is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._callbacks[query_id] = dict(params)
        return True

    def _api_setWebhook(self, params: JSON) -> bool:
        url = _str(params, "url", "")
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        secret = None if secret in (None, "") else str(secret)
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _bad("secret token contains unallowed characters")
        connections = _int(params, "max_connections", 40)
        if not 1 <= connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        if "allowed_updates" in params:
            self._set_allowed(_json(params, "allowed_updates"))
        self._webhook = {"url": url}
        if url:
            self._webhook["max_connections"] = connections
        self._webhook_delivery.configure(Webhook(url, secret, connections) if url else None)
        return True

    def _api_deleteWebhook(self, params: JSON) -> bool:
        if _bool(params, "drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": ""}
        self._webhook_delivery.configure(None)
        return True

    def _api_getWebhookInfo(self, params: JSON) -> JSON:
        info: JSON = {
            **self._webhook,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._allowed is not None and self._webhook["url"]:
            info["allowed_updates"] = sorted(self._allowed)
        last_error = self._webhook_delivery.last_error
        if last_error is not None and self._webhook["url"]:
            info["last_error_date"], info["last_error_message"] = last_error
        return info

    def _commands_key(self, params: JSON) -> str:
        scope = _json(params, "scope") if "scope" in params else {"type": "default"}
        return json.dumps([scope, params.get("language_code", "")], sort_keys=True)

    def _api_setMyCommands(self, params: JSON) -> bool:
        commands = _json(params, "commands")
        if not isinstance(commands, list) or not all(
            isinstance(c, dict) and c.get("command") and c.get("description") for c in commands
        ):
            raise _bad("can't parse commands JSON array")
        self._commands[self._commands_key(params)] = commands
        return True

    def _api_getMyCommands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _api_deleteMyCommands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    # ------------------------------------------------------------------ param helpers

    def _chat_param(self, params: JSON) -> _Chat:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _bad("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.username and chat.username.lower() == chat_id[1:].lower():
                    return chat
            raise _bad("chat not found")
        try:
            return self._chat(int(chat_id))
        except (LookupError, ValueError, TypeError):
            raise _bad("chat not found") from None

    def _user_param(self, params: JSON) -> int:
        user_id = _int(params, "user_id")
        if user_id not in self._users:
            raise _bad("user not found")
        return user_id

    def _bot_is_admin(self, chat: _Chat) -> bool:
        return self.status(chat.id, self.bot_id) in ("creator", "administrator")


# ---------------------------------------------------------------------- module helpers


def _now() -> int:
    return int(time.time())


def _strip(data: JSON) -> JSON:
    return {k: v for k, v in data.items() if v is not None}


async def _read_params(request: web.Request) -> JSON:
    """Decode query string, JSON, form-encoded or multipart params like Telegram does."""
    raw: JSON = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON") from None
            if not isinstance(body, dict):
                raise _bad("can't parse JSON object")
            return {**{k: _decode(k, v) for k, v in raw.items()}, **body}
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                raw[key] = {"file_name": value.filename, "size": len(value.file.read())}
            else:
                raw[key] = value
    return {k: _decode(k, v) for k, v in raw.items()}


def _decode(key: str, value: Any) -> Any:
    """Form values are strings; PTB JSON-encodes everything that is not a string."""
    if not isinstance(value, str) or key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _json(params: JSON, key: str) -> Any:
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {key} JSON") from None
    return value


def _int(params: JSON, key: str, default: int | None = None) -> int:
    value = params.get(key)
    if value is None or value == "":
        if default is None:
            raise _bad(f"{key} is empty")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified") from None


def _number(params: JSON, key: str, default: float) -> float:
    value = params.get(key)
    try:
        return default if value in (None, "") else float(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified") from None


def _str(params: JSON, key: str, default: str | None = None) -> str:
    value = params.get(key)
    if value is None:
        if default is None:
            raise _bad(f"{key} is empty")
        return default
    return str(value)


def _bool(params: JSON, key: str) -> bool:
    value = params.get(key)
    return value is True or (isinstance(value, str) and value.lower() == "true")
