"""Pure ASGI middleware: a request id, security headers and latency metrics on every response.

Pure ASGI (not ``BaseHTTPMiddleware``) so that event streams pass through unbuffered.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fsv_api.metrics import ApiMetrics

__all__ = ["RequestContext"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
#: The interactive docs load their own scripts: they get a looser policy.
_DOCS_PATHS = ("/docs", "/redoc")


class RequestContext:
    """Give each request an ``X-Request-ID`` (kept if the client sent a sane one)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, *, hsts: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or [])
        given = sent.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        streaming = False
        docs = scope["path"].startswith(_DOCS_PATHS)

        async def send_wrapper(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                streaming = b"text/event-stream" in dict(headers).get(b"content-type", b"")
                headers.append((b"x-request-id", request_id.encode()))
                for name, value in _SECURITY_HEADERS:
                    if name not in names and not (docs and name == b"content-security-policy"):
                        headers.append((name, value))
                if self.hsts:
                    headers.append(_HSTS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not streaming:
                self.metrics.latency.labels(scope["method"], _template(scope), str(status)
                                            ).observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    """The matched route's path with its parameters named (``/api/v1/groups/{group_id}``).

    Built from the request path and its parameters, so the label set stays bounded
    (one per route) whatever the ids; requests that matched no route share one label.
    """
    if scope.get("route") is None:
        return "unmatched"
    path: str = scope["path"]
    for name, value in (scope.get("path_params") or {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path
