"""``/analytics``: verifications and users over 24h / 7d / 30d / 90d, against the period before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

import firestore_verify as fv
from fsv_api.export import csv_response
from fsv_api.problems import responses
from fsv_api.schemas import (
    CountsOut,
    TrendPointOut,
    UserGrowthPointOut,
    UsersAnalytics,
    VerificationsAnalytics,
)
from fsv_api.security import permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/analytics", tags=["analytics"])
read = permitted(fv.Permission.READ_ANALYTICS)
ERRORS = responses(401, 403, 422, 429)
PeriodName = Literal["24h", "7d", "30d", "90d"]
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "One row per day (hour for 24h)."}}


async def _verifications(svc: Services, period: PeriodName) -> VerificationsAnalytics:
    report = await svc.store.analytics.report(
        period, granularity="hour" if period == "24h" else "day")
    comparison, trend = report.comparison, report.trend
    return VerificationsAnalytics(
        period=period, current=CountsOut.of(comparison.current.counts),
        previous=CountsOut.of(comparison.previous.counts),
        change=comparison.verifications_change,
        success_rate_change=comparison.success_rate_change,
        trend=[TrendPointOut(start=p.start, counts=CountsOut.of(p.counts)) for p in trend])


async def _users(svc: Services, period: PeriodName) -> UsersAnalytics:
    analytics = svc.store.analytics
    comparison = await analytics.compare(period)
    growth = await analytics.growth(period)
    stats = await svc.store.stats.get()
    return UsersAnalytics(
        period=period, total_users=stats.total_users, new_users=comparison.current.new_users,
        previous_new_users=comparison.previous.new_users,
        growth_rate=comparison.new_users_change,
        growth=[UserGrowthPointOut(day=p.day.isoformat(), new_users=p.new_users,
                                   total_users=p.total_users, unique_users=p.unique_users)
                for p in growth])


@router.get("/verifications", response_model=VerificationsAnalytics, responses=ERRORS)
async def verifications(period: PeriodName = "7d", svc: Services = Depends(services),
                        _: fv.Principal = Depends(read)) -> VerificationsAnalytics:
    """Counts and success rate over the period and the one before, with the trend."""
    return await _verifications(svc, period)


@router.get("/users", response_model=UsersAnalytics, responses=ERRORS)
async def users(period: PeriodName = "30d", svc: Services = Depends(services),
                _: fv.Principal = Depends(read)) -> UsersAnalytics:
    """Total and new users, growth against the previous period, and users per day."""
    return await _users(svc, period)


async def _iterate(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        yield row


@router.get("/verifications/export", response_class=StreamingResponse,
            responses={**ERRORS, **CSV})
async def export_verifications(period: PeriodName = "7d", svc: Services = Depends(services),
                               _: fv.Principal = Depends(read)) -> StreamingResponse:
    """The verification trend as CSV."""
    data = await _verifications(svc, period)
    rows = [{"start": p.start.isoformat(), **p.counts.model_dump()} for p in data.trend]
    return csv_response(("start", "total", "success", "failed", "error", "success_rate"),
                        _iterate(rows), f"verifications-{period}.csv")


@router.get("/users/export", response_class=StreamingResponse, responses={**ERRORS, **CSV})
async def export_users(period: PeriodName = "30d", svc: Services = Depends(services),
                       _: fv.Principal = Depends(read)) -> StreamingResponse:
    """Users per day as CSV."""
    data = await _users(svc, period)
    return csv_response(("day", "new_users", "total_users", "unique_users"),
                        _iterate([p.model_dump() for p in data.growth]), f"users-{period}.csv")
