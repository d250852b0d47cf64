"""``/dashboard``: the cards and the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

import firestore_verify as fv
from fsv_api.problems import responses
from fsv_api.schemas import DashboardStats, PageOut
from fsv_api.security import permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/dashboard", tags=["dashboard"])
read = permitted(fv.Permission.READ_DASHBOARD)
ERRORS = responses(401, 403, 422, 429)


@router.get("/stats", response_model=DashboardStats, responses=ERRORS)
async def stats(svc: Services = Depends(services),
                _: fv.Principal = Depends(read)) -> DashboardStats:
    """Totals, verifications today against yesterday, and the success rate."""
    return DashboardStats.of(await svc.store.analytics.overview())


@router.get("/activity", response_model=PageOut[fv.Verification], responses=ERRORS)
async def activity(
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read),
    status: fv.Status | None = None,
    group_id: Annotated[int | None, Query(lt=0, ge=-(2**63))] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PageOut[fv.Verification]:
    """The latest verification events, newest first."""
    page = await svc.store.analytics.activity.latest(limit=limit, cursor=cursor, status=status,
                                                    group_id=group_id)
    return PageOut[fv.Verification].of(page)
