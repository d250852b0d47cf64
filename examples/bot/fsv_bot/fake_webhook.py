"""Webhook delivery for the fake Bot API server: updates POSTed to the bot, as Telegram does.

Once the bot calls ``setWebhook``, :class:`~fsv_bot.fake_telegram.FakeBotApi` hands its
queued updates to a :class:`WebhookDelivery`, which runs on the server's event loop and
POSTs each one as JSON to the URL:

* with the header ``X-Telegram-Bot-Api-Secret-Token`` when a ``secret_token`` was set;
* at most ``max_connections`` requests at once, and one at a time per chat, so the
  updates of one chat arrive in the order they happened (an update with no chat waits
  behind the other chat-less ones);
* an update leaves the queue only when the webhook answers 2xx; a non-2xx answer, a
  connection error or a timeout is retried with exponential backoff, up to
  ``max_attempts`` attempts, after which the update is dropped (Telegram gives up too);
* ``setWebhook`` with a new URL retries the waiting updates at once; ``deleteWebhook``
  stops delivery (requests already sent finish), and the updates left are then
  ``getUpdates``' again.

Every attempt is recorded (:attr:`WebhookDelivery.attempts`, with the response headers,
e.g. a proxy saying which backend answered), and the counters :attr:`~WebhookDelivery.delivered`,
:attr:`~WebhookDelivery.failed_attempts` and :attr:`~WebhookDelivery.dropped` are there
for tests to wait on. :meth:`~WebhookDelivery.pause` holds delivery back (updates queue
up) until :meth:`~WebhookDelivery.resume`, to make a burst arrive at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["SECRET_HEADER", "Webhook", "WebhookAttempt", "WebhookDelivery", "chat_of"]

JSON = dict[str, Any]

#: The header carrying ``setWebhook``'s ``secret_token``.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

#: Update kinds whose payload names the chat under ``chat``.
_CHAT_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post",
               "chat_member", "my_chat_member", "chat_join_request", "message_reaction",
               "message_reaction_count", "chat_boost", "removed_chat_boost")


def chat_of(update: Mapping[str, Any]) -> int | None:
    """The chat an update belongs to (deliveries of one chat keep their order), if any."""
    for kind in _CHAT_KINDS:
        payload = update.get(kind)
        if isinstance(payload, dict) and isinstance(payload.get("chat"), dict):
            chat_id = payload["chat"].get("id")
            return chat_id if isinstance(chat_id, int) else None
    query = update.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            chat_id = message["chat"].get("id")
            return chat_id if isinstance(chat_id, int) else None
    return None


@dataclass(frozen=True)
class Webhook:
    """Where updates go: what ``setWebhook`` was given."""

    url: str
    secret_token: str | None = None
    #: Most requests in flight at once (``setWebhook``'s ``max_connections``).
    max_connections: int = 40


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of one update to the webhook, and how it ended."""

    update_id: int
    url: str
    #: The HTTP status of the answer; ``None`` when there was none (refused, timed out).
    status: int | None
    #: Why there was no answer, as ``Type: message``.
    error: str | None
    #: The answer's headers (empty without an answer).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: When the request was sent and when it ended (``time.monotonic()``).
    started: float = 0.0
    ended: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the webhook accepted the update (a 2xx answer)."""
        return self.status is not None and 200 <= self.status < 300


class WebhookDelivery:
    """Delivers the queued updates to the webhook from a task on the fake server's loop.

    ``waiting()`` returns the updates waiting for delivery, oldest first;
    ``settle(update_id, delivered)`` removes one from the queue once it is delivered
    (``True``) or dropped after ``max_attempts`` failures (``False``). Both are called
    on the loop's thread. :meth:`start` and :meth:`close` run on that loop too; the
    counters and :meth:`pause`/:meth:`resume` may be used from any thread.
    """

    def __init__(
        self,
        waiting: Callable[[], list[JSON]],
        settle: Callable[[int, bool], None],
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_attempts: int = 20,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        timeout: float = 10.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._waiting = waiting
        self._settle = settle
        self._ssl = ssl_context
        #: Attempts per update before it is dropped.
        self.max_attempts = max_attempts
        #: Seconds before the first retry; doubled after each failure, up to ``max_backoff``.
        self.backoff = backoff
        self.max_backoff = max_backoff
        #: Seconds one request may take (connecting included) before it counts as failed.
        self.timeout = timeout
        self._lock = threading.Lock()
        self._hook: Webhook | None = None
        self._paused = False
        self._attempts: list[WebhookAttempt] = []
        self._failures: dict[int, int] = {}  # update id -> failed attempts so far
        self._retry_at: dict[int, float] = {}
        self._in_flight: set[int] = set()
        self._delivered = 0
        self._failed = 0
        self._dropped = 0
        self._last_error: tuple[int, str] | None = None
        # Owned by the loop:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ lifecycle (loop)

    async def start(self) -> None:
        """Start the delivery task on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        # limit=0: max_connections is enforced here, per webhook, not by the pool.
        connector = aiohttp.TCPConnector(limit=0, ssl=self._ssl if self._ssl else True)
        self._session = aiohttp.ClientSession(connector=connector)
        self._runner = self._loop.create_task(self._run(), name="fake-bot-api-webhook")

    async def close(self) -> None:
        """Stop delivering: requests in flight are cancelled, the updates stay queued."""
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
        self._runner = self._session = None

    # ------------------------------------------------------------------ control (any thread)

    def configure(self, hook: Webhook | None) -> None:
        """Deliver to ``hook`` from now on (``None``: stop). A new URL retries at once."""
        with self._lock:
            if hook is not None and (self._hook is None or hook.url != self._hook.url):
                self._retry_at.clear()
            self._hook = hook
        self.wake()

    @property
    def webhook(self) -> Webhook | None:
        """The webhook updates go to (``None`` while none is set)."""
        with self._lock:
            return self._hook

    def pause(self) -> None:
        """Hold delivery back: updates queue up (requests already sent finish)."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Deliver again, starting with what queued up while paused."""
        with self._lock:
            self._paused = False
        self.wake()

    def wake(self) -> None:
        """Look for updates to deliver now (called when one is queued)."""
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(wakeup.set)

    # ------------------------------------------------------------------ counters (any thread)

    @property
    def delivered(self) -> int:
        """Updates the webhook accepted (2xx)."""
        with self._lock:
            return self._delivered

    @property
    def failed_attempts(self) -> int:
        """Attempts that got a non-2xx answer, or none."""
        with self._lock:
            return self._failed

    @property
    def dropped(self) -> int:
        """Updates given up after ``max_attempts`` failed attempts."""
        with self._lock:
            return self._dropped

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        with self._lock:
            return len(self._in_flight)

    @property
    def attempts(self) -> list[WebhookAttempt]:
        """Every attempt so far, in the order they ended."""
        with self._lock:
            return list(self._attempts)

    @property
    def last_error(self) -> tuple[int, str] | None:
        """``(unix time, message)`` of the last failed attempt, as ``getWebhookInfo`` says it."""
        with self._lock:
            return self._last_error

    # ------------------------------------------------------------------ delivering (loop)

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            delay = self._dispatch()
            if delay is None:
                await self._wakeup.wait()
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)

    def _dispatch(self) -> float | None:
        """Send what may go now; return the seconds until a retry is due (``None``: none)."""
        with self._lock:
            hook, paused = self._hook, self._paused
        if hook is None or paused:
            return None
        now = time.monotonic()
        blocked: set[int | None] = set()  # chats with an earlier update still undelivered
        next_due: float | None = None
        for update in self._waiting():
            update_id = int(update["update_id"])
            chat = chat_of(update)
            if chat in blocked:
                continue
            blocked.add(chat)
            with self._lock:
                if update_id in self._in_flight:
                    continue
                due = self._retry_at.get(update_id, 0.0)
                if due > now:
                    next_due = due if next_due is None else min(next_due, due)
                    continue
                if len(self._in_flight) >= hook.max_connections:
                    break
                self._in_flight.add(update_id)
            assert self._loop is not None
            task = self._loop.create_task(self._deliver(hook, update))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return None if next_due is None else next_due - now

    async def _deliver(self, hook: Webhook, update: JSON) -> None:
        update_id = int(update["update_id"])
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers[SECRET_HEADER] = hook.secret_token
        status: int | None = None
        reason = ""
        error: str | None = None
        answer_headers: dict[str, str] = {}
        started = time.monotonic()
        try:
            assert self._session is not None
            async with self._session.post(
                hook.url, data=json.dumps(update), headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                await response.read()
                status, reason = response.status, response.reason or ""
                answer_headers = dict(response.headers)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except BaseException:
            with self._lock:
                self._in_flight.discard(update_id)
            raise
        attempt = WebhookAttempt(update_id, hook.url, status, error, answer_headers,
                                 started, time.monotonic())
        self._record(attempt, reason)
        self.wake()

    def _record(self, attempt: WebhookAttempt, reason: str) -> None:
        update_id = attempt.update_id
        with self._lock:
            self._in_flight.discard(update_id)
            self._attempts.append(attempt)
            if attempt.ok:
                self._delivered += 1
                self._failures.pop(update_id, None)
                self._retry_at.pop(update_id, None)
                settled: bool | None = True
            else:
                self._failed += 1
                message = (f"Wrong response from the webhook: {attempt.status} {reason}"
                           if attempt.status is not None else attempt.error or "no answer")
                self._last_error = (int(time.time()), message.strip())
                failures = self._failures.get(update_id, 0) + 1
                if failures >= self.max_attempts:
                    self._dropped += 1
                    self._failures.pop(update_id, None)
                    self._retry_at.pop(update_id, None)
                    settled = False
                else:
                    self._failures[update_id] = failures
                    wait = min(self.backoff * 2 ** (failures - 1), self.max_backoff)
                    self._retry_at[update_id] = time.monotonic() + wait
                    settled = None
        if settled is not None:
            self._settle(update_id, settled)
