"""Who is calling: a Firebase ID token (``Authorization: Bearer``) or a session cookie.

Cookie-authenticated writes must carry the CSRF token (double submit: the
``fsv_csrf`` cookie's value in the ``X-CSRF-Token`` header); bearer tokens are not
sent by browsers on their own, so they need none. The role check uses the
library's one permission table, then the caller's rate limit is counted.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

import firestore_verify as fv
from fsv_api.services import Services, services

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "actor_of",
    "client_ip",
    "current_principal",
    "new_csrf_token",
    "permitted",
]

SESSION_COOKIE = "fsv_session"
CSRF_COOKIE = "fsv_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="A Firebase ID token of an active admin.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="The session cookie set by POST /api/v1/auth/session.")


def new_csrf_token() -> str:
    """A fresh random CSRF token for a new session."""
    return secrets.token_urlsafe(32)


def client_ip(request: Request, trust_forwarded: bool) -> str:
    """The caller's IP: the first ``X-Forwarded-For`` hop behind a trusted proxy."""
    if trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.client.host if request.client else "unknown"


def _check_csrf(request: Request) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise fv.PermissionDeniedError("cookie session", f"write without the {CSRF_HEADER} "
                                       "header matching the fsv_csrf cookie")


async def current_principal(
    request: Request,
    svc: Services = Depends(services),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    cookie: str | None = Depends(_cookie),
) -> fv.Principal:
    """The active admin making this request (``AuthenticationError`` when none)."""
    if bearer is not None:
        return await svc.auth.verify_id_token(bearer.credentials)
    if cookie:
        if request.method not in _SAFE_METHODS:
            _check_csrf(request)
        return await svc.auth.verify_session_cookie(cookie)
    raise fv.AuthenticationError(
        "sign in first: send a Firebase ID token as 'Authorization: Bearer <token>', "
        "or the session cookie from POST /api/v1/auth/session."
    )


def permitted(permission: fv.Permission) -> Callable[..., Awaitable[fv.Principal]]:
    """A dependency: the caller, if their role grants ``permission``; then rate-limited."""
    write = permission.value.endswith((":write", ":manage"))

    async def dependency(
        svc: Services = Depends(services),
        principal: fv.Principal = Depends(current_principal),
    ) -> fv.Principal:
        principal.require(permission)
        await svc.limits.hit("write" if write else "read", principal.uid)
        return principal

    return dependency


def actor_of(request: Request, principal: fv.Principal, svc: Services) -> fv.Actor:
    """The audit trail's view of this request: who, from which IP, with which client."""
    agent = request.headers.get("user-agent")
    return fv.Actor(uid=principal.uid, ip_address=client_ip(request, svc.settings.trust_forwarded),
                    user_agent=agent[:1024] if agent else None)
