"""The HTTP side of the fake Bot API server: aiohttp on a background thread, Telegram's wire format.

:class:`BotApiServer` serves ``GET``/``POST /bot<token>/<method>`` on a free port of
``host``, from an event loop of its own in a daemon thread (so sync tests and tests on
any event loop can use it, and a test blocking its own loop cannot stall it). For each
request it decodes the parameters (query string, JSON, form-encoded or multipart, the
form values JSON-decoded as PTB sends them), checks the token, runs the method on
:class:`~fsv_bot.fake_methods.BotApiMethods`, and answers ``{"ok": true, "result": ...}``
or the :class:`~fsv_bot.fake_methods.ApiError` body with its HTTP status. Every answer
is recorded as a :class:`Call`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fsv_bot.fake_methods import ApiError, BotApiMethods, bad
from fsv_bot.fake_world import JSON

__all__ = ["BotApiServer", "Call", "read_params"]

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


class BotApiServer:
    """Serves ``methods`` over HTTP for the bot with ``token``, on ``host`` and a free port.

    :meth:`start` and :meth:`stop` may be called from any thread; the call log is
    guarded by the world's lock.
    """

    def __init__(self, methods: BotApiMethods, *, token: str, host: str) -> None:
        self._methods = methods
        self._lock = methods.world.lock
        self._token = token
        self._host = host
        self._calls: list[Call] = []
        # Owned by the server thread:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The TCP port the server listens on (0 before :meth:`start`)."""
        return self._port

    def start(self) -> None:
        """Start serving on a free port, in a new thread with its own event loop."""
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

    def stop(self) -> None:
        """Stop serving: waiting ``getUpdates`` calls return at once, connections close."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        self._thread = self._loop = None

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
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        await self._methods.start()

    async def _shutdown(self) -> None:
        await self._methods.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ the call log

    def calls(self, since: int = 0) -> list[Call]:
        """The calls answered, from index ``since`` on, oldest first."""
        with self._lock:
            return self._calls[since:]

    @property
    def call_count(self) -> int:
        """How many calls were answered (and not cleared)."""
        with self._lock:
            return len(self._calls)

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self._calls.clear()

    # ------------------------------------------------------------------ HTTP

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        method = self._methods.canonical(name)
        try:
            params = await read_params(request)
        except ApiError as exc:
            return self._respond(method, {}, exc.body())
        if request.match_info["token"] != self._token:
            return self._respond(method, params, ApiError(401, "Unauthorized").body())
        try:
            result = await self._methods.call(name, params)
        except ApiError as exc:
            return self._respond(method, params, exc.body())
        return self._respond(method, params, {"ok": True, "result": result})

    def _respond(self, method: str, params: JSON, body: JSON) -> web.Response:
        with self._lock:
            self._calls.append(Call(method, params, copy.deepcopy(body)))
        status = 200 if body["ok"] else int(body["error_code"])
        return web.json_response(body, status=status)


async def read_params(request: web.Request) -> JSON:
    """Decode query string, JSON, form-encoded or multipart params like Telegram does.

    An uploaded file becomes ``{"file_name": ..., "size": ...}``.
    """
    raw: JSON = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad("can't parse JSON") from None
            if not isinstance(body, dict):
                raise bad("can't parse JSON object")
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
