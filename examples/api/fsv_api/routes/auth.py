"""``/auth``: exchange an ID token for a session cookie, sign out, who am I."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.schemas import Me, SessionIn
from fsv_api.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    client_ip,
    current_principal,
    new_csrf_token,
)
from fsv_api.services import Services, services

router = APIRouter(prefix="/auth", tags=["auth"])


def _me(principal: fv.Principal, csrf: str | None = None) -> Me:
    permissions = sorted(fv.ROLE_PERMISSIONS[principal.role], key=lambda p: p.value)
    return Me(uid=principal.uid, email=principal.email, role=principal.role,
              permissions=permissions, csrf_token=csrf)


@router.post("/session", response_model=Me, responses=responses(401, 422, 429))
async def create_session(body: SessionIn, request: Request, response: Response,
                         svc: Services = Depends(services)) -> Me:
    """Exchange a fresh Firebase ID token of an active admin for an HttpOnly session cookie.

    Also sets the ``fsv_csrf`` cookie; send its value as ``X-CSRF-Token`` on writes.
    """
    await svc.limits.hit("signin", client_ip(request, svc.settings.trust_forwarded))
    lifetime = timedelta(hours=svc.settings.session_hours)
    cookie = await svc.auth.create_session_cookie(body.id_token, expires_in=lifetime)
    principal = await svc.auth.verify_session_cookie(cookie)
    csrf = new_csrf_token()
    seconds = int(lifetime.total_seconds())
    secure = svc.settings.cookie_secure
    response.set_cookie(SESSION_COOKIE, cookie, max_age=seconds, httponly=True, secure=secure,
                        samesite="strict", path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=seconds, httponly=False, secure=secure,
                        samesite="strict", path="/")
    return _me(principal, csrf)


@router.delete("/session", status_code=204, responses=responses(401, 403, 429))
async def delete_session(response: Response, svc: Services = Depends(services),
                         principal: fv.Principal = Depends(current_principal)) -> Response:
    """Sign out: revoke every token and session of this admin, and clear the cookies."""
    await svc.auth.revoke(principal.uid)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", response_model=Me, responses=responses(401, 429))
async def me(request: Request, svc: Services = Depends(services),
             principal: fv.Principal = Depends(current_principal)) -> Me:
    """The signed-in admin, their role and permissions."""
    await svc.limits.hit("read", principal.uid)
    return _me(principal, request.cookies.get(CSRF_COOKIE))
