"""``/admins`` (owners only): invite, list, get, change role, lock out, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.schemas import AdminCreate, AdminPatch, PageOut
from fsv_api.security import actor_of, permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/admins", tags=["admins"])
manage = permitted(fv.Permission.MANAGE_ADMINS)
ERRORS = responses(401, 403, 404, 409, 422, 429)
Uid = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


@router.get("", response_model=PageOut[fv.AdminUser], responses=ERRORS)
async def list_admins(
    svc: Services = Depends(services), _: fv.Principal = Depends(manage),
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PageOut[fv.AdminUser]:
    """Every admin, by uid."""
    return PageOut[fv.AdminUser].of(await svc.store.admins.list(limit=limit, cursor=cursor))


@router.post("", response_model=fv.AdminUser, status_code=201, responses=ERRORS)
async def invite(body: AdminCreate, request: Request, svc: Services = Depends(services),
                 principal: fv.Principal = Depends(manage)) -> fv.AdminUser:
    """Make someone an admin: their Firebase user is found or created, the role claim set."""
    return await svc.accounts.invite(body.email, body.role, full_name=body.full_name,
                                     password=body.password,
                                     actor=actor_of(request, principal, svc))


@router.get("/{uid}", response_model=fv.AdminUser, responses=ERRORS)
async def get_admin(uid: Uid, svc: Services = Depends(services),
                    _: fv.Principal = Depends(manage)) -> fv.AdminUser:
    """One admin."""
    return await svc.store.admins.get(uid)


@router.patch("/{uid}", response_model=fv.AdminUser, responses=ERRORS)
async def update_admin(uid: Uid, body: AdminPatch, request: Request,
                       svc: Services = Depends(services),
                       principal: fv.Principal = Depends(manage)) -> fv.AdminUser:
    """Change the role or lock out / let in; the last active owner stays an active owner."""
    actor = actor_of(request, principal, svc)
    admin = await svc.store.admins.get(uid)
    if body.role is not None:
        admin = await svc.accounts.set_role(uid, body.role, actor=actor)
    if body.is_active is False:
        admin = await svc.accounts.deactivate(uid, actor=actor)
    elif body.is_active is True:
        admin = await svc.accounts.activate(uid, actor=actor)
    return admin


@router.delete("/{uid}", status_code=204, responses=ERRORS)
async def delete_admin(uid: Uid, request: Request, svc: Services = Depends(services),
                       principal: fv.Principal = Depends(manage)) -> Response:
    """Remove an admin (their Firebase user stays; their tokens are revoked)."""
    if not await svc.accounts.delete(uid, actor=actor_of(request, principal, svc)):
        raise fv.NotFoundError("admin user", uid)
    return Response(status_code=204)
