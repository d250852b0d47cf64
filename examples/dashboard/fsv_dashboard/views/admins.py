"""Admins (owners only): invite with a role, change role, deactivate / activate, delete.

Every change goes through :class:`~firestore_verify.AdminAccounts` (the
``admin_users`` document and its audit entry in one transaction, then the
Firebase custom claim and a token revocation). The library refuses to leave
the dashboard without an active owner; the refusal is shown as a message. The
list is live through the page's one stream (``store.admins.watch()``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

import firestore_verify as fv
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import (
    CSRF_COOKIE,
    actor_of,
    check_csrf,
    csrf_token,
    current_principal,
)
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream

router = APIRouter()

Uid = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
ROLES = tuple(role.value for role in fv.Role)
#: The refusals shown on the page as a message, with their HTTP status.
REFUSALS: tuple[tuple[type[fv.FirestoreVerifyError], int], ...] = (
    (fv.ConflictError, 409), (fv.AlreadyExistsError, 409), (fv.NotFoundError, 404),
    (fv.InvalidInputError, 422))


def _sorted(admins: list[fv.AdminUser]) -> list[fv.AdminUser]:
    order = {role: index for index, role in enumerate(ROLES)}
    return sorted(admins, key=lambda a: (order.get(a.role.value, 9), a.email.casefold(), a.uid))


async def _all(svc: Services) -> list[fv.AdminUser]:
    return _sorted([admin async for admin in svc.store.admins.iterate()])


def _rows(svc: Services, principal: fv.Principal, admins: list[fv.AdminUser],
          csrf: str) -> str:
    return fragment(svc.templates, "_admin_rows.html", principal, admins=admins, roles=ROLES,
                    csrf=csrf, me=principal.uid)


async def _page(request: Request, svc: Services, principal: fv.Principal, *,
                notice: str | None = None, error: str | None = None,
                form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    admins = await _all(svc)
    return render(request, "admins.html", {
        "notice": notice, "error": error, "form": form or {}, "roles": ROLES,
        "rows_html": _rows(svc, principal, admins, csrf_token(request))},
        status_code=status_code)


def _done(notice: str) -> Response:
    return RedirectResponse(f"/admins?{urlencode({'notice': notice})}", status_code=303)


def _refusal(exc: fv.FirestoreVerifyError) -> int | None:
    return next((status for kind, status in REFUSALS if isinstance(exc, kind)), None)


@router.get("/admins")
async def admins_page(request: Request, notice: str | None = None,
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """Every admin, with the forms to manage them."""
    principal.require(fv.Permission.MANAGE_ADMINS)
    return await _page(request, svc, principal, notice=notice)


@router.get("/stream/admins")
async def admins_stream(request: Request, svc: Services = Depends(services),
                        principal: fv.Principal = Depends(current_principal)) -> Response:
    """Event ``admins``: the table's rows whenever an admin changes."""
    principal.require(fv.Permission.MANAGE_ADMINS)
    csrf = request.cookies.get(CSRF_COOKIE, "")

    async def on_admins(admins: list[fv.AdminUser]) -> list[tuple[str, str]]:
        return [("admins", _rows(svc, principal, _sorted(admins), csrf))]

    return page_stream(svc, {"admins": (("admins", svc.store.admins.watch), on_admins)})


@router.post("/admins", dependencies=[Depends(check_csrf)])
async def invite(request: Request, email: Annotated[str, Form(min_length=3, max_length=254)],
                 role: Annotated[str, Form(max_length=16)],
                 full_name: Annotated[str, Form(max_length=255)] = "",
                 password: Annotated[str, Form(max_length=4096)] = "",
                 svc: Services = Depends(services),
                 principal: fv.Principal = Depends(current_principal)) -> Response:
    """Make someone an admin with ``role`` (their Firebase user is found or created)."""
    principal.require(fv.Permission.MANAGE_ADMINS)
    email = email.strip()
    try:
        admin = await svc.accounts.invite(email, role, full_name=full_name.strip() or None,
                                          password=password or None,
                                          actor=actor_of(request, principal, svc))
    except fv.FirestoreVerifyError as exc:
        status = _refusal(exc)
        if status is None:
            raise
        return await _page(request, svc, principal, error=str(exc), status_code=status,
                           form={"email": email, "role": role, "full_name": full_name})
    how = ("" if password else
           " Without a password, they choose one with “Forgot password?” on the sign-in page.")
    return _done(f"{admin.email} is now an admin with the role {admin.role.value}.{how}")


async def _change(request: Request, svc: Services, principal: fv.Principal, uid: str,
                  verb: str, role: str | None = None) -> Response:
    principal.require(fv.Permission.MANAGE_ADMINS)
    accounts, actor = svc.accounts, actor_of(request, principal, svc)
    try:
        if verb == "role":
            admin = await accounts.set_role(uid, role or "", actor=actor)
            notice = f"{admin.email} now has the role {admin.role.value}."
        elif verb == "deactivate":
            admin = await accounts.deactivate(uid, actor=actor)
            notice = f"{admin.email} is deactivated and signed out everywhere."
        elif verb == "activate":
            admin = await accounts.activate(uid, actor=actor)
            notice = f"{admin.email} may sign in again."
        else:
            if not await accounts.delete(uid, actor=actor):
                raise fv.NotFoundError("admin user", uid)
            notice = f"Admin {uid} deleted (their Firebase user stays)."
    except fv.FirestoreVerifyError as exc:
        status = _refusal(exc)
        if status is None:
            raise
        return await _page(request, svc, principal, error=str(exc), status_code=status)
    return _done(notice)


@router.post("/admins/{uid}/role", dependencies=[Depends(check_csrf)])
async def set_role(request: Request, uid: Uid, role: Annotated[str, Form(max_length=16)],
                   svc: Services = Depends(services),
                   principal: fv.Principal = Depends(current_principal)) -> Response:
    """Give the admin another role (their tokens are revoked: it applies at once)."""
    return await _change(request, svc, principal, uid, "role", role)


@router.post("/admins/{uid}/deactivate", dependencies=[Depends(check_csrf)])
async def deactivate(request: Request, uid: Uid, svc: Services = Depends(services),
                     principal: fv.Principal = Depends(current_principal)) -> Response:
    """Lock the admin out and end their sessions."""
    return await _change(request, svc, principal, uid, "deactivate")


@router.post("/admins/{uid}/activate", dependencies=[Depends(check_csrf)])
async def activate(request: Request, uid: Uid, svc: Services = Depends(services),
                   principal: fv.Principal = Depends(current_principal)) -> Response:
    """Let a deactivated admin in again."""
    return await _change(request, svc, principal, uid, "activate")


@router.post("/admins/{uid}/delete", dependencies=[Depends(check_csrf)])
async def delete(request: Request, uid: Uid, svc: Services = Depends(services),
                 principal: fv.Principal = Depends(current_principal)) -> Response:
    """Remove the admin (their Firebase user stays; their sessions end)."""
    return await _change(request, svc, principal, uid, "delete")
