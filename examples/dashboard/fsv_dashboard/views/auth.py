"""Sign in (email and password), sign out (revokes), and "forgot password"."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

import firestore_verify as fv
from fsv_dashboard.render import render
from fsv_dashboard.security import (
    SESSION_COOKIE,
    LoginRequired,
    check_csrf,
    current_principal,
)
from fsv_dashboard.services import Services, services

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL): no open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/login")
async def login_page(request: Request, svc: Services = Depends(services),
                     next: str | None = None, bye: bool = False) -> Response:
    """The sign-in form (straight to the dashboard when already signed in)."""
    try:
        await current_principal(request, svc)
        return RedirectResponse(_safe_next(next), status_code=303)
    except LoginRequired:
        pass
    notice = "You are signed out." if bye else None
    return render(request, "login.html", {"next": _safe_next(next), "notice": notice})


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, email: Annotated[str, Form(max_length=320)],
                password: Annotated[str, Form(max_length=4096)],
                next: Annotated[str, Form(max_length=2048)] = "/",
                svc: Services = Depends(services)) -> Response:
    """Check the password with Firebase Auth; an active admin gets a session cookie.

    A refusal shows the form again with the reason (status 200: the browser
    shows a page, not a failed resource).
    """
    lifetime = timedelta(hours=svc.settings.session_hours)
    try:
        id_token = await svc.sign_in.sign_in(email, password)
        cookie = await svc.auth.create_session_cookie(id_token, expires_in=lifetime)
    except fv.AuthenticationError as exc:
        return render(request, "login.html", {"next": _safe_next(next), "email": email,
                                              "error": str(exc)})
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(lifetime.total_seconds()),
                        httponly=True, secure=svc.settings.cookie_secure, samesite="strict",
                        path="/")
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request, svc: Services = Depends(services)) -> Response:
    """Sign out: revoke every session of this admin, and clear the cookie."""
    try:
        principal = await current_principal(request, svc)
        await svc.auth.revoke(principal.uid)
    except LoginRequired:
        pass  # already signed out: just clear the cookie
    response = RedirectResponse("/login?bye=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/forgot")
async def forgot_page(request: Request) -> Response:
    """The "forgot password" form."""
    return render(request, "forgot.html", {})


@router.post("/forgot", dependencies=[Depends(check_csrf)])
async def forgot(request: Request, email: Annotated[str, Form(max_length=320)],
                 svc: Services = Depends(services)) -> Response:
    """Ask Firebase Auth to send a reset link (unknown addresses are not revealed)."""
    try:
        await svc.sign_in.send_password_reset(email)
    except (fv.InvalidInputError, fv.AuthenticationError) as exc:
        return render(request, "forgot.html", {"email": email, "error": str(exc)})
    return render(request, "forgot.html", {
        "sent": True, "email": email})
