"""Logs: live verification events (filters, pause and resume, export), admin actions.

The time filter (``since`` / ``until``, UTC) narrows the events' query; the
admin actions are the latest entries of the audit trail, live, for those
allowed to read it. Both live queries are built here from ``fv.LiveStream``
(the library's ``activity.watch`` has no time range, ``audit.watch`` no order or
limit) and shared by every open page through the fan-out.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

import firestore_verify as fv
from firestore_verify.live import query_source
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import Renderer, page_stream
from fsv_dashboard.views.dashboard import STATUSES

router = APIRouter()

LOG_SIZE = 100
AUDIT_SIZE = 30
EXPORT_LIMIT = 1000


def _when(text: str | None) -> datetime | None:
    """A ``datetime-local`` value (or ISO 8601) read as UTC; ``None`` when blank."""
    raw = (text or "").strip()
    if not raw:
        return None
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


@dataclass(frozen=True)
class Filters:
    """The Logs page's filters: status, group and time range (UTC, ``until`` excluded)."""

    status: fv.Status | None = None
    group_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    error: str | None = None

    @property
    def timed(self) -> bool:
        """Whether a time range is set."""
        return self.since is not None or self.until is not None

    def params(self) -> dict[str, str]:
        """The URL parameters of these filters."""
        values: dict[str, Any] = {
            "status": self.status.value if self.status else None, "group": self.group_id,
            "since": self.since.strftime("%Y-%m-%dT%H:%M") if self.since else None,
            "until": self.until.strftime("%Y-%m-%dT%H:%M") if self.until else None}
        return {k: str(v) for k, v in values.items() if v is not None}

    def key(self) -> str:
        """The fan-out key of the events' live query."""
        if not self.timed:  # the same key as the dashboard's and group pages' feeds
            return (f"activity:{self.status.value if self.status else 'all'}:"
                    f"{self.group_id or 'all'}:{LOG_SIZE}")
        return f"logs:{sorted(self.params().items())}:{LOG_SIZE}"


def _filters(status: str | None, group: str | None, since: str | None = None,
             until: str | None = None) -> Filters:
    wanted = fv.Status(status) if status in STATUSES else None
    text = (group or "").strip()
    group_id = int(text) if text.lstrip("-").isdigit() and int(text) < 0 else None
    try:
        start, end = _when(since), _when(until)
    except ValueError:
        return Filters(wanted, group_id, error="Give the times as YYYY-MM-DD HH:MM (UTC); "
                                               "the time filter was not applied.")
    if start is not None and end is not None and end <= start:
        return Filters(wanted, group_id, error="“Until” must be after “since”; "
                                               "the time filter was not applied.")
    return Filters(wanted, group_id, start, end)


def _query(store: fv.Store, f: Filters, base: Any) -> Any:
    query = base
    if f.status is not None:
        query = query.where(filter=FieldFilter("status", "==", f.status.value))
    if f.group_id is not None:
        query = query.where(filter=FieldFilter("group_id", "==", f.group_id))
    if f.since is not None:
        query = query.where(filter=FieldFilter("occurred_at", ">=", f.since))
    if f.until is not None:
        query = query.where(filter=FieldFilter("occurred_at", "<", f.until))
    return query.order_by("occurred_at", direction=firestore.Query.DESCENDING)


async def _events(store: fv.Store, f: Filters, limit: int) -> list[fv.Verification]:
    """The latest ``limit`` events of the filters, newest first (one query)."""
    if not f.timed:
        return (await store.analytics.activity.latest(limit=limit, status=f.status,
                                                      group_id=f.group_id)).items
    col = store.collection(fv.Verification.collection)
    return [fv.Verification.from_document(s.id, s.to_dict() or {})
            async for s in _query(store, f, col).limit(limit).stream()]


def watch_events(store: fv.Store, f: Filters) -> fv.LiveStream[list[fv.Verification]]:
    """The latest events of the filters, live (the library's feed when no time is set)."""
    if not f.timed:
        return store.analytics.activity.watch(limit=LOG_SIZE, status=f.status,
                                              group_id=f.group_id)
    col = store.sync_client.collection(store.collection_name(fv.Verification.collection))
    query = _query(store, f, col).limit(LOG_SIZE)

    def combine(sources: list[list[Any]]) -> list[fv.Verification]:
        events = [fv.Verification.from_document(s.id, s.to_dict() or {}) for s in sources[0]]
        return sorted(events, key=lambda e: e.occurred_at, reverse=True)

    return fv.LiveStream([query_source(query)], combine)


def watch_audit(store: fv.Store, limit: int = AUDIT_SIZE) -> fv.LiveStream[list[fv.AuditEntry]]:
    """The latest ``limit`` audit entries, newest first, live."""
    col = store.sync_client.collection(store.collection_name(fv.AuditEntry.collection))
    query = col.order_by("created_at", direction=firestore.Query.DESCENDING).limit(limit)

    def combine(sources: list[list[Any]]) -> list[fv.AuditEntry]:
        entries = [fv.AuditEntry.from_document(s.id, s.to_dict() or {}) for s in sources[0]]
        return sorted(entries, key=lambda e: (e.created_at is not None, e.created_at
                                              or datetime.min.replace(tzinfo=timezone.utc)),
                      reverse=True)

    return fv.LiveStream([query_source(query)], combine)


@router.get("/logs")
async def logs_page(request: Request, status: str | None = None, group: str | None = None,
                    since: str | None = None, until: str | None = None,
                    svc: Services = Depends(services),
                    principal: fv.Principal = Depends(current_principal)) -> Response:
    """The latest events and the latest admin actions (both live)."""
    principal.require(fv.Permission.READ_LOGS)
    f = _filters(status, group, since, until)
    events = await _events(svc.store, f, LOG_SIZE)
    audit = (await svc.store.audit.latest(limit=AUDIT_SIZE)).items \
        if principal.can(fv.Permission.READ_AUDIT) else []
    return render(request, "logs.html", {
        "events": events, "status": f.status, "group_id": f.group_id, "statuses": STATUSES,
        "filters": f, "audit": audit, "query": urlencode(f.params())})


@router.get("/stream/logs")
async def logs_stream(status: str | None = None, group: str | None = None,
                      since: str | None = None, until: str | None = None,
                      svc: Services = Depends(services),
                      principal: fv.Principal = Depends(current_principal)) -> Response:
    """Events ``activity`` (the filters' latest events) and ``audit`` (admin actions)."""
    principal.require(fv.Permission.READ_LOGS)
    f, store = _filters(status, group, since, until), svc.store

    async def on_events(events: list[fv.Verification]) -> list[tuple[str, str]]:
        return [("activity", fragment(svc.templates, "_feed.html", principal, events=events,
                                      status=f.status))]

    async def on_audit(entries: list[fv.AuditEntry]) -> list[tuple[str, str]]:
        return [("audit", fragment(svc.templates, "_log_audit.html", principal, audit=entries))]

    specs: dict[str, tuple[fv.StreamSpec, Renderer]] = {
        "activity": ((f.key(), lambda: watch_events(store, f)), on_events)}
    if principal.can(fv.Permission.READ_AUDIT):
        specs["audit"] = ((f"audit:latest:{AUDIT_SIZE}", lambda: watch_audit(store)), on_audit)
    return page_stream(svc, specs)


@router.get("/logs/export.{fmt}")
async def export(fmt: Literal["csv", "json"], status: str | None = None,
                 group: str | None = None, since: str | None = None,
                 until: str | None = None, svc: Services = Depends(services),
                 principal: fv.Principal = Depends(current_principal)) -> Response:
    """The latest events of the filters (up to 1000), as CSV or JSON."""
    principal.require(fv.Permission.READ_LOGS)
    f = _filters(status, group, since, until)
    rows = [e.model_dump(mode="json") for e in await _events(svc.store, f, EXPORT_LIMIT)]
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
