"""``/logs``: verification events and admin actions, filtered, paged, exported."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

import firestore_verify as fv
from fsv_api.export import csv_response, json_lines
from fsv_api.problems import responses
from fsv_api.schemas import PageOut
from fsv_api.security import permitted
from fsv_api.services import Services, services

router = APIRouter(prefix="/logs", tags=["logs"])
#: ``/audit``: the audit trail on its own, as the audit page reads it.
audit_router = APIRouter(prefix="/audit", tags=["audit"])
read = permitted(fv.Permission.READ_LOGS)
read_audit = permitted(fv.Permission.READ_AUDIT)
ERRORS = responses(401, 403, 422, 429)
#: Most rows one export returns (ask again with narrower filters for more).
MAX_EXPORT_ROWS = 10_000

EVENT_COLUMNS = ("id", "occurred_at", "status", "user_id", "group_id", "channel_id", "cached",
                 "latency_ms", "error_type")
AUDIT_COLUMNS = ("id", "created_at", "actor_uid", "action", "resource_type", "resource_id",
                 "old_value", "new_value", "ip_address", "user_agent")
Cursor = Annotated[str | None, Query(max_length=2048)]
Limit = Annotated[int, Query(ge=1, le=200)]


def _time_filters(field: str, since: datetime | None,
                  until: datetime | None) -> list[fv.Filter]:
    filters: list[fv.Filter] = []
    if since is not None:
        filters.append((field, ">=", _utc(since)))
    if until is not None:
        filters.append((field, "<", _utc(until)))
    return filters


def _utc(moment: datetime) -> datetime:
    """A time without a zone means UTC, as everywhere in the data contract."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _event_query(status: fv.Status | None, group_id: int | None, since: datetime | None,
                 until: datetime | None) -> dict[str, Any]:
    where: dict[str, Any] = {}
    if status is not None:
        where["status"] = status
    if group_id is not None:
        where["group_id"] = group_id
    return {"filters": _time_filters("occurred_at", since, until), "order_by": "occurred_at",
            "descending": True, **where}


async def _rows(items: AsyncIterator[Any]) -> AsyncIterator[dict[str, Any]]:
    count = 0
    async for item in items:
        yield item.model_dump(mode="json")
        count += 1
        if count >= MAX_EXPORT_ROWS:
            return


@router.get("/verifications", response_model=PageOut[fv.Verification], responses=ERRORS)
async def verifications(
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read),
    status: fv.Status | None = None,
    group_id: Annotated[int | None, Query(lt=0, ge=-(2**63))] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageOut[fv.Verification]:
    """Verification events, newest first, by status, group and time."""
    page = await svc.store.verifications.list(
        limit=limit, cursor=cursor, **_event_query(status, group_id, since, until))
    return PageOut[fv.Verification].of(page)


@router.get("/verifications/export", response_class=StreamingResponse,
            responses={**ERRORS, 200: {"content": {"text/csv": {}, "application/json": {}},
                                       "description": "The events, newest first."}})
async def export_verifications(
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read),
    format: Literal["csv", "json"] = "csv",
    status: fv.Status | None = None,
    group_id: Annotated[int | None, Query(lt=0, ge=-(2**63))] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """Export the matching events (at most 10,000, newest first) as CSV or JSON."""
    rows = _rows(svc.store.verifications.iterate(**_event_query(status, group_id, since, until)))
    if format == "json":
        return StreamingResponse(json_lines(rows), media_type="application/json")
    return csv_response(EVENT_COLUMNS, rows, "verifications.csv")


def _audit_query(actor: str | None, action: str | None, resource_type: str | None,
                 since: datetime | None, until: datetime | None) -> dict[str, Any]:
    where = {key: value for key, value in (("actor_uid", actor), ("action", action),
                                           ("resource_type", resource_type)) if value}
    return {"filters": _time_filters("created_at", since, until), "order_by": "created_at",
            "descending": True, **where}


AuditText = Annotated[str | None, Query(max_length=128)]


@router.get("/audit", response_model=PageOut[fv.AuditEntry], responses=ERRORS)
@audit_router.get("", response_model=PageOut[fv.AuditEntry], responses=ERRORS)
async def audit(
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read_audit),
    actor: AuditText = None,
    action: AuditText = None,
    resource_type: AuditText = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PageOut[fv.AuditEntry]:
    """Admin actions, newest first, by actor, action, resource type and time."""
    page = await svc.store.audit.list(
        limit=limit, cursor=cursor, **_audit_query(actor, action, resource_type, since, until))
    return PageOut[fv.AuditEntry].of(page)


@router.get("/audit/export", response_class=StreamingResponse,
            responses={**ERRORS, 200: {"content": {"text/csv": {}, "application/json": {}},
                                       "description": "The entries, newest first."}})
async def export_audit(
    svc: Services = Depends(services),
    _: fv.Principal = Depends(read_audit),
    format: Literal["csv", "json"] = "csv",
    actor: AuditText = None,
    action: AuditText = None,
    resource_type: AuditText = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """Export the matching audit entries (at most 10,000) as CSV or JSON."""
    rows = _rows(svc.store.audit.iterate(
        **_audit_query(actor, action, resource_type, since, until)))
    if format == "json":
        return StreamingResponse(json_lines(rows), media_type="application/json")
    return csv_response(AUDIT_COLUMNS, rows, "audit.csv")
