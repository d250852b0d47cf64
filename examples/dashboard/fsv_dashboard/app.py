"""``create_app()``: the FastAPI app, its lifespan (store, auth, fan-out) and its views."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import firestore_verify as fv
from fsv_dashboard.render import build_templates, render
from fsv_dashboard.security import CsrfError, LoginRequired
from fsv_dashboard.services import Services
from fsv_dashboard.settings import DashboardSettings
from fsv_dashboard.views import (
    admins,
    analytics,
    audit,
    auth,
    channels,
    config,
    dashboard,
    database,
    groups,
    logs,
)

__all__ = ["create_app"]

log = logging.getLogger("fsv_dashboard")
STATIC = Path(__file__).parent / "static"

#: No inline scripts, nothing from another origin (styles: Chart.js sets inline styles).
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'")
_SECURITY_HEADERS = [
    (b"content-security-policy", _CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Pure ASGI middleware (safe for streaming responses): security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to ``http.response.start``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_html_page(request: Request) -> bool:
    return (request.method == "GET" and not request.url.path.startswith("/stream/")
            and "hx-request" not in request.headers)


def _install_error_pages(app: FastAPI) -> None:
    def page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
        return render(request, "error.html", {"title": title, "message": message,
                                              "status": status}, status_code=status)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_html_page(request):
            target = quote(request.url.path + (f"?{request.url.query}" if request.url.query
                                               else ""), safe="")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return Response(exc.reason, status_code=401, media_type="text/plain",
                        headers={"HX-Redirect": "/login"})

    @app.exception_handler(CsrfError)
    async def csrf_failed(request: Request, exc: CsrfError) -> Response:
        return page(request, 403, "Form expired", str(exc))

    @app.exception_handler(fv.PermissionDeniedError)
    async def denied(request: Request, exc: fv.PermissionDeniedError) -> Response:
        return page(request, 403, "Not allowed", f"Your role may not do this ({exc}).")

    @app.exception_handler(fv.NotFoundError)
    async def not_found(request: Request, exc: fv.NotFoundError) -> Response:
        return page(request, 404, "Not found", str(exc))

    @app.exception_handler(fv.InvalidInputError)
    async def invalid(request: Request, exc: fv.InvalidInputError) -> Response:
        return page(request, 422, "Check the form", str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'input'}: {e.get('msg', '')}"
            for e in exc.errors())
        return page(request, 422, "Check the form", problems or "invalid input")

    @app.exception_handler(fv.FirestoreVerifyError)
    async def failed(request: Request, exc: fv.FirestoreVerifyError) -> Response:
        log.warning("request failed: %s", exc)
        return page(request, 503, "Something went wrong", f"{exc} Retry in a moment.")


def create_app(
    settings: DashboardSettings | None = None,
    *,
    store: fv.Store | None = None,
    authenticator: fv.Authenticator | None = None,
) -> FastAPI:
    """The dashboard. Without ``store`` / ``authenticator`` it connects at start-up.

    A store or authenticator passed in is used as is and left open at shutdown
    (tests share them); the ones the app makes itself it closes.
    """
    settings = settings or DashboardSettings.from_env()
    templates = build_templates()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with fv.admin_backend(store=store, authenticator=authenticator,
                                    database=settings.database,
                                    prefix=settings.collection_prefix) as backend:
            sign_in = fv.PasswordSignIn(backend.auth, api_key=settings.firebase_api_key)
            try:
                app.state.services = Services(settings=settings, store=backend.store,
                                              auth=backend.auth, sign_in=sign_in,
                                              hub=backend.hub, templates=templates)
                yield
            finally:
                await sign_in.aclose()

    app = FastAPI(title="firestore-verify dashboard", version=fv.__version__,
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    for module in (auth, dashboard, groups, channels, logs, analytics, config, database, admins,
                   audit):
        app.include_router(module.router)
    _install_error_pages(app)
    app.add_middleware(SecurityHeaders)
    return app
