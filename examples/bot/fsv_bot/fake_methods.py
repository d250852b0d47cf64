"""The Bot API methods of the fake Bot API server, working on its world.

:class:`BotApiMethods` answers one call at a time, by name, from decoded parameters:
``getMe``, ``getChat``, ``getChatMember``, ``getChatMemberCount``,
``getChatAdministrators``, ``restrictChatMember``, ``banChatMember``,
``unbanChatMember``, ``sendMessage``, ``editMessageText``, ``editMessageReplyMarkup``,
``deleteMessage``, ``answerCallbackQuery``, ``setWebhook``, ``deleteWebhook``,
``getWebhookInfo``, ``setMyCommands``, ``getMyCommands``, ``deleteMyCommands``, and
``getUpdates``, which long-polls. A method that fails raises :class:`ApiError` with
Telegram's code and wording; failures scripted with :meth:`BotApiMethods.fail_next`
come first. It keeps what the bot configured: the webhook (and its
:class:`~fsv_bot.fake_webhook.WebhookDelivery`) and the commands; ``allowed_updates``
goes to the world, which filters the update queue by it.

The state is a :class:`~fsv_bot.fake_world.World`. This module knows nothing of HTTP:
:mod:`fsv_bot.fake_server` decodes requests and turns results and errors into
Telegram's wire format.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fsv_bot.fake_webhook import Webhook, WebhookDelivery
from fsv_bot.fake_world import JSON, Chat, Member, World, chat_permissions, now

__all__ = ["ApiError", "BotApiMethods", "bad"]

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


def bad(description: str) -> ApiError:
    """A 400 ``Bad Request: <description>`` error."""
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class _Failure:
    error: ApiError
    times: int


class BotApiMethods:
    """The Bot API of one bot, answering from (and changing) ``world``.

    :meth:`call` runs one method with the world's lock held (``getUpdates`` waits
    without it). :meth:`start` and :meth:`close` run on the fake server's event loop,
    where waiting ``getUpdates`` calls and the webhook delivery live; :meth:`wake`
    (called by the world whenever it queues an update) may be called from any thread.
    ``webhook_cafile``: a PEM file of the CA certificates trusted when calling an
    ``https://`` webhook (default: the system's).
    """

    def __init__(
        self, world: World, *, webhook_cafile: str | os.PathLike[str] | None = None
    ) -> None:
        self.world = world
        self._lock = world.lock
        self._webhook: JSON = {"url": ""}
        self._commands: dict[str, list[JSON]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._poll_generation = 0
        self._polls_waiting = 0
        # Owned by the server's event loop:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Event] = set()
        self._closing = False
        context = None if webhook_cafile is None else ssl.create_default_context(
            cafile=os.fspath(webhook_cafile))
        self._delivery = WebhookDelivery(
            world.waiting_updates, world.settle_update, ssl_context=context)
        # lower-case name -> (canonical name, handler); Telegram matches names case-insensitively.
        self._methods: dict[str, tuple[str, Callable[[JSON], Any]]] = {
            attr[5:].lower(): (attr[5:], getattr(self, attr))
            for attr in dir(type(self))
            if attr.startswith("_api_")
        }
        world.on_update = self.wake

    # ------------------------------------------------------------------ running

    @property
    def webhook(self) -> WebhookDelivery:
        """The webhook delivery: its attempts, counters, and ``pause()``/``resume()``."""
        return self._delivery

    @property
    def polls_waiting(self) -> int:
        """``getUpdates`` calls received and not yet answered."""
        with self._lock:
            return self._polls_waiting

    def canonical(self, name: str) -> str:
        """The method's name as the Bot API spells it (names match in any case).

        An unknown method keeps the spelling it was called with.
        """
        if name.lower() == "getupdates":
            return "getUpdates"
        known = self._methods.get(name.lower())
        return known[0] if known else name

    async def call(self, name: str, params: JSON) -> Any:
        """Run the method ``name`` with decoded ``params``; returns its ``result``.

        Raises :class:`ApiError` for an error answer: a scripted failure first, then
        404 for an unknown method, then what the method itself refuses.
        """
        if name.lower() == "getupdates":
            return await self._get_updates(params)
        with self._lock:
            self._check_failure(name)
            known = self._methods.get(name.lower())
            if known is None:
                raise ApiError(404, f"Not Found: method {name}")
            return known[1](params)

    async def start(self) -> None:
        """Start the webhook delivery on the running loop, where ``getUpdates`` will wait."""
        await self._delivery.start()
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        """End the waiting ``getUpdates`` calls at once and stop the webhook delivery."""
        self._closing = True
        self._wake_pollers()
        await self._delivery.close()
        self._loop = None

    def wake(self) -> None:
        """Wake waiting ``getUpdates`` calls and the webhook delivery (from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_pollers)
        self._delivery.wake()

    def _wake_pollers(self) -> None:
        for event in self._waiters:
            event.set()

    # ------------------------------------------------------------------ scripted failures

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with this error.

        See :meth:`fsv_bot.fake_telegram.FakeBotApi.fail_next` for the defaults.
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

    def _check_failure(self, method: str) -> None:
        queue = self._failures.get(method.lower())
        if not queue:
            return
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        raise failure.error

    # ------------------------------------------------------------------ getUpdates

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
                updates = self.world.take_updates(offset, limit)
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

    def _set_allowed(self, allowed: Any) -> None:
        if not isinstance(allowed, list):
            raise bad("can't parse allowed_updates JSON array")
        self.world.allowed = frozenset(allowed) if allowed else None

    # ------------------------------------------------------------------ the methods

    def _api_getMe(self, params: JSON) -> JSON:
        return {
            **self.world.user(self.world.bot_id),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_getChat(self, params: JSON) -> JSON:
        return self.world.full_chat_json(self._chat_param(params))

    def _api_getChatMember(self, params: JSON) -> JSON:
        chat = self._chat_param(params)
        user_id = self._user_param(params)
        if chat.type == "channel" and not self.world.bot_is_admin(chat):
            raise bad("member list is inaccessible")
        return self.world.member_json(chat, user_id)

    def _api_getChatMemberCount(self, params: JSON) -> int:
        chat = self._chat_param(params)
        return sum(self.world.in_chat(chat, user_id) for user_id in chat.members)

    def _api_getChatAdministrators(self, params: JSON) -> list[JSON]:
        chat = self._chat_param(params)
        if chat.type == "channel" and not self.world.bot_is_admin(chat):
            raise bad("member list is inaccessible")
        admins = sorted(
            (uid for uid, m in chat.members.items() if m.status in ("creator", "administrator")),
            key=lambda uid: chat.members[uid].status != "creator",
        )
        return [self.world.member_json(chat, uid) for uid in admins]

    def _api_restrictChatMember(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        if chat.type != "supergroup":
            raise bad("method is available only for supergroups")
        user_id = self._moderated_user(chat, params, "restrict/unrestrict")
        raw = _json(params, "permissions")
        if not isinstance(raw, dict):
            raise bad("can't parse permissions JSON object")
        perms = chat_permissions(
            raw, independent=_bool(params, "use_independent_chat_permissions"))
        in_chat = self.world.in_chat(chat, user_id)
        if self.world.covers_defaults(chat, perms):
            new = Member("member" if in_chat else "left")
        else:
            new = Member(
                "restricted",
                until_date=_int(params, "until_date", 0),
                is_member=in_chat,
                permissions=perms,
            )
        self.world.change_member(chat, user_id, new, actor_id=self.world.bot_id)
        return True

    def _api_banChatMember(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        user_id = self._moderated_user(chat, params, "restrict/unrestrict")
        until = _int(params, "until_date", 0)
        self.world.change_member(
            chat, user_id, Member("kicked", until_date=until), actor_id=self.world.bot_id
        )
        return True

    def _api_unbanChatMember(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        user_id = self._moderated_user(chat, params, "restrict/unrestrict")
        status = self.world.status(chat, user_id)
        if status == "kicked" or not _bool(params, "only_if_banned"):
            # Without only_if_banned, Telegram also removes a current member.
            self.world.change_member(chat, user_id, Member("left"), actor_id=self.world.bot_id)
        return True

    def _api_sendMessage(self, params: JSON) -> JSON:
        chat = self._chat_param(params)
        text = _str(params, "text")
        if not text.strip():
            raise bad("message text is empty")
        if len(text) > 4096:
            raise bad("message is too long")
        bot_id = self.world.bot_id
        if chat.type == "channel":
            bot = chat.members.get(bot_id)
            if bot is None or not (bot.status == "creator" or bot.rights.get("can_post_messages")):
                raise bad("need administrator rights in the channel chat")
        elif chat.type != "private" and not self.world.can_send_messages(chat, bot_id):
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
                content["reply_to_message"] = self.world.message(chat.id, int(reply_id))
            except LookupError:
                allow = isinstance(reply_to, dict) and reply_to.get("allow_sending_without_reply")
                if not allow:
                    raise bad("message to be replied not found") from None
        return self.world.new_message(chat, self.world.user(bot_id), content)

    def _api_editMessageText(self, params: JSON) -> JSON:
        text = _str(params, "text")
        if not text.strip():
            raise bad("text must be non-empty")
        return self._edit(params, {"text": text})

    def _api_editMessageReplyMarkup(self, params: JSON) -> JSON:
        return self._edit(params, {})

    def _api_deleteMessage(self, params: JSON) -> bool:
        chat = self._chat_param(params)
        message_id = _int(params, "message_id")
        message = self.world.stored_message(chat.id, message_id)
        if message is None:
            raise bad("message to delete not found")
        bot = chat.members.get(self.world.bot_id)
        may_delete = bot is not None and (
            bot.status == "creator" or bot.rights.get("can_delete_messages", False)
        )
        if not (self.world.is_from_bot(message) or may_delete or chat.type == "private"):
            raise bad("message can't be deleted")
        self.world.delete_message(chat.id, message_id)
        return True

    def _api_answerCallbackQuery(self, params: JSON) -> bool:
        query_id = _str(params, "callback_query_id")
        if not self.world.answer_callback_query(query_id, dict(params)):
            raise bad("query is too old and response timeout expired or query ID is invalid")
        return True

    def _api_setWebhook(self, params: JSON) -> bool:
        url = _str(params, "url", "")
        if url and not url.startswith("https://"):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        secret = None if secret in (None, "") else str(secret)
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise bad("secret token contains unallowed characters")
        connections = _int(params, "max_connections", 40)
        if not 1 <= connections <= 100:
            raise bad("bad webhook: max_connections must be between 1 and 100")
        if _bool(params, "drop_pending_updates"):
            self.world.drop_updates()
        if "allowed_updates" in params:
            self._set_allowed(_json(params, "allowed_updates"))
        self._webhook = {"url": url}
        if url:
            self._webhook["max_connections"] = connections
        self._delivery.configure(Webhook(url, secret, connections) if url else None)
        return True

    def _api_deleteWebhook(self, params: JSON) -> bool:
        if _bool(params, "drop_pending_updates"):
            self.world.drop_updates()
        self._webhook = {"url": ""}
        self._delivery.configure(None)
        return True

    def _api_getWebhookInfo(self, params: JSON) -> JSON:
        info: JSON = {
            **self._webhook,
            "has_custom_certificate": False,
            "pending_update_count": self.world.pending_count,
        }
        allowed = self.world.allowed
        if allowed is not None and self._webhook["url"]:
            info["allowed_updates"] = sorted(allowed)
        last_error = self._delivery.last_error
        if last_error is not None and self._webhook["url"]:
            info["last_error_date"], info["last_error_message"] = last_error
        return info

    def _api_setMyCommands(self, params: JSON) -> bool:
        commands = _json(params, "commands")
        if not isinstance(commands, list) or not all(
            isinstance(c, dict) and c.get("command") and c.get("description") for c in commands
        ):
            raise bad("can't parse commands JSON array")
        self._commands[self._commands_key(params)] = commands
        return True

    def _api_getMyCommands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _api_deleteMyCommands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    # ------------------------------------------------------------------ shared steps

    def _edit(self, params: JSON, changes: JSON) -> JSON:
        if "inline_message_id" in params:
            raise bad("inline messages are not supported by the fake Bot API")
        chat = self._chat_param(params)
        message = self.world.stored_message(chat.id, _int(params, "message_id"))
        if message is None:
            raise bad("message to edit not found")
        if not self.world.is_from_bot(message):
            raise bad("message can't be edited")
        markup = _json(params, "reply_markup") if "reply_markup" in params else None
        if markup is not None:
            changes["reply_markup"] = markup
        before = {k: message.get(k) for k in ("text", "reply_markup")}
        after = {**before, **changes, "reply_markup": markup}
        if after == before:
            raise bad(
                "message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message.update(changes)
        if markup is None:
            message.pop("reply_markup", None)  # an edit without a keyboard removes it
        message["edit_date"] = now()
        return copy.deepcopy(message)

    def _moderated_user(self, chat: Chat, params: JSON, action: str) -> int:
        user_id = self._user_param(params)
        bot_id = self.world.bot_id
        bot = chat.members.get(bot_id)
        if bot is None or not (
            bot.status == "creator"
            or (bot.status == "administrator" and bot.rights.get("can_restrict_members"))
        ):
            raise bad(f"not enough rights to {action} chat member")
        if user_id == bot_id:
            raise bad("can't restrict self")
        status = self.world.status(chat, user_id)
        if status == "creator":
            raise bad("can't remove chat owner")
        if status == "administrator":
            raise bad("user is an administrator of the chat")
        return user_id

    def _commands_key(self, params: JSON) -> str:
        scope = _json(params, "scope") if "scope" in params else {"type": "default"}
        return json.dumps([scope, params.get("language_code", "")], sort_keys=True)

    def _chat_param(self, params: JSON) -> Chat:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise bad("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = self.world.chat_by_username(chat_id[1:])
            if chat is None:
                raise bad("chat not found")
            return chat
        try:
            return self.world.chat(int(chat_id))
        except (LookupError, ValueError, TypeError):
            raise bad("chat not found") from None

    def _user_param(self, params: JSON) -> int:
        user_id = _int(params, "user_id")
        if not self.world.has_user(user_id):
            raise bad("user not found")
        return user_id


# ---------------------------------------------------------------------- reading params


def _json(params: JSON, key: str) -> Any:
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad(f"can't parse {key} JSON") from None
    return value


def _int(params: JSON, key: str, default: int | None = None) -> int:
    value = params.get(key)
    if value is None or value == "":
        if default is None:
            raise bad(f"{key} is empty")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad(f"invalid {key} specified") from None


def _number(params: JSON, key: str, default: float) -> float:
    value = params.get(key)
    try:
        return default if value in (None, "") else float(value)
    except (TypeError, ValueError):
        raise bad(f"invalid {key} specified") from None


def _str(params: JSON, key: str, default: str | None = None) -> str:
    value = params.get(key)
    if value is None:
        if default is None:
            raise bad(f"{key} is empty")
        return default
    return str(value)


def _bool(params: JSON, key: str) -> bool:
    value = params.get(key)
    return value is True or (isinstance(value, str) and value.lower() == "true")
