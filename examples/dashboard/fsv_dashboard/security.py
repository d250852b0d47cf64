"""Who is asking: the session cookie, CSRF tokens for form posts, the audit actor.

The session cookie (``fsv_dash_session``) is HttpOnly and SameSite=Strict, made
by the library's :meth:`~firestore_verify.Authenticator.create_session_cookie`.
Every form post carries the CSRF token (a hidden ``csrf_token`` field, or the
``X-CSRF-Token`` header for htmx requests) that must equal the ``fsv_dash_csrf``
cookie (double submit); the cookie is set on the first page a browser gets.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Depends, Request

import firestore_verify as fv
from fsv_dashboard.services import Services, services

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CsrfError",
    "LoginRequired",
    "actor_of",
    "check_csrf",
    "client_ip",
    "csrf_token",
    "current_principal",
]

SESSION_COOKIE = "fsv_dash_session"
CSRF_COOKIE = "fsv_dash_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(Exception):
    """No valid session: pages redirect to the login page, other requests get 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        #: Why (shown on the login page).
        self.reason = reason


class CsrfError(Exception):
    """A form post without the CSRF token of this browser (HTTP 403)."""


def csrf_token(request: Request) -> str:
    """This browser's CSRF token: the cookie's, or a new one (set by :func:`render`)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    fresh: str | None = getattr(request.state, "new_csrf", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.new_csrf = fresh
    return fresh


async def check_csrf(request: Request) -> None:
    """Dependency of every form post: the token sent must equal the cookie's."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfError("this form has expired or came from another site: reload and retry.")


def client_ip(request: Request, trust_forwarded: bool) -> str:
    """The caller's IP: the first ``X-Forwarded-For`` hop behind a trusted proxy."""
    if trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.client.host if request.client else "unknown"


async def current_principal(request: Request,
                            svc: Services = Depends(services)) -> fv.Principal:
    """The signed-in active admin (raises :class:`LoginRequired` when there is none)."""
    cached: fv.Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired("Sign in to continue.")
    try:
        principal = await svc.auth.verify_session_cookie(cookie)
    except fv.AuthenticationError as exc:
        raise LoginRequired(f"Your session ended ({exc}). Sign in again.") from None
    request.state.principal = principal
    return principal


def actor_of(request: Request, principal: fv.Principal, svc: Services) -> fv.Actor:
    """The audit trail's view of this request: who, from which IP, with which browser."""
    agent = request.headers.get("user-agent")
    return fv.Actor(uid=principal.uid, ip_address=client_ip(request, svc.settings.trust_forwarded),
                    user_agent=agent[:1024] if agent else None)
