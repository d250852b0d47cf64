"""Logs: live verification events (filters, pause and resume, export), admin actions.

The admin actions are the latest entries of the audit trail, for those allowed to read it.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import firestore_verify as fv
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream
from fsv_dashboard.views.dashboard import STATUSES

router = APIRouter()

LOG_SIZE = 100
AUDIT_SIZE = 30
EXPORT_LIMIT = 1000


def _filters(status: str | None, group: str | None) -> tuple[fv.Status | None, int | None]:
    wanted = fv.Status(status) if status in STATUSES else None
    text = (group or "").strip()
    group_id = int(text) if text.lstrip("-").isdigit() and int(text) < 0 else None
    return wanted, group_id


def _key(status: fv.Status | None, group_id: int | None) -> str:
    return f"activity:{status.value if status else 'all'}:{group_id or 'all'}:{LOG_SIZE}"


@router.get("/logs")
async def logs_page(request: Request, status: str | None = None, group: str | None = None,
                    svc: Services = Depends(services),
                    principal: fv.Principal = Depends(current_principal)) -> Response:
    """The latest events (live) and the latest admin actions."""
    principal.require(fv.Permission.READ_LOGS)
    wanted, group_id = _filters(status, group)
    events = await svc.store.analytics.activity.latest(limit=LOG_SIZE, status=wanted,
                                                       group_id=group_id)
    audit = (await svc.store.audit.latest(limit=AUDIT_SIZE)).items \
        if principal.can(fv.Permission.READ_AUDIT) else []
    params = {k: v for k, v in {"status": wanted.value if wanted else None,
                                "group": group_id}.items() if v is not None}
    return render(request, "logs.html", {
        "events": events.items, "status": wanted, "group_id": group_id, "statuses": STATUSES,
        "audit": audit, "query": urlencode(params)})


@router.get("/stream/logs")
async def logs_stream(status: str | None = None, group: str | None = None,
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """Event ``activity``: the latest events of the filters, whenever one lands."""
    principal.require(fv.Permission.READ_LOGS)
    wanted, group_id = _filters(status, group)

    async def on_events(events: list[fv.Verification]) -> list[tuple[str, str]]:
        return [("activity", fragment(svc.templates, "_feed.html", principal, events=events,
                                      status=wanted))]

    return page_stream(svc, {"activity": (
        (_key(wanted, group_id), lambda: svc.store.analytics.activity.watch(
            limit=LOG_SIZE, status=wanted, group_id=group_id)), on_events)})


@router.get("/logs/export.{fmt}")
async def export(fmt: Literal["csv", "json"], status: str | None = None,
                 group: str | None = None, svc: Services = Depends(services),
                 principal: fv.Principal = Depends(current_principal)) -> Response:
    """The latest events of the filters (up to 1000), as CSV or JSON."""
    principal.require(fv.Permission.READ_LOGS)
    wanted, group_id = _filters(status, group)
    page = await svc.store.analytics.activity.latest(limit=EXPORT_LIMIT, status=wanted,
                                                     group_id=group_id)
    rows = [e.model_dump(mode="json") for e in page.items]
    headers = {"Content-Disposition": f'attachment; filename="verifications.{fmt}"',
               "Cache-Control": "no-store"}
    if fmt == "json":
        return Response(json.dumps(rows, indent=1), media_type="application/json",
                        headers=headers)
    out = io.StringIO()
    fields = ["id", "occurred_at", "status", "user_id", "group_id", "channel_id",
              "latency_ms", "cached", "error_type", "created_at"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv", headers=headers)
