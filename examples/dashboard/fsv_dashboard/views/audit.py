"""Audit: the admin audit trail, newest first, filtered by actor, action, resource and time.

One indexed query per page (``store.audit.list``: equality filters on
``actor_uid``, ``action`` and ``resource_type``, a ``created_at`` range,
ordered by ``created_at`` descending), cursor pages. Every entry was written
by the library in the transaction of the change it records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

import firestore_verify as fv
from fsv_dashboard.render import render
from fsv_dashboard.security import current_principal
from fsv_dashboard.services import Services, services

router = APIRouter()

#: Suggestions for the filters (the actions and resource types the library audits).
ACTIONS = ("group.protect", "group.enable", "group.disable", "group.update",
           "group.link_channel", "group.unlink_channel", "group.delete", "channel.create",
           "channel.update", "channel.delete", "config.set", "admin.create", "admin.set_role",
           "admin.deactivate", "admin.activate", "admin.delete")
RESOURCE_TYPES = ("group", "channel", "config", "admin")
Text = Annotated[str, Query(max_length=254)]


@dataclass(frozen=True)
class Filters:
    """The audit page's filters, as typed in the form."""

    actor: str = ""
    action: str = ""
    resource: str = ""
    since: str = ""
    until: str = ""

    def params(self, **changes: Any) -> str:
        """The URL query of these filters (with ``changes``)."""
        values = {"actor": self.actor, "action": self.action, "resource": self.resource,
                  "since": self.since, "until": self.until, **changes}
        return urlencode({k: v for k, v in values.items() if v})


def _moment(text: str, name: str) -> datetime | None:
    """A ``datetime-local`` value (or ISO 8601) as UTC; naive times are UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fv.InvalidInputError(f"{name}: {text!r} is not a date and time "
                                   "(YYYY-MM-DDTHH:MM, UTC).") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def compact(value: Any, limit: int = 160) -> str:
    """An old or new value as short JSON."""
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _actor_uid(svc: Services, actor: str) -> str | None:
    """The uid of ``actor``: an admin's email, or a uid (``cli:...`` actors too)."""
    if "@" not in actor:
        return actor
    found = await svc.store.admins.list(limit=1, email=actor)
    return found.items[0].uid if found.items else None


@router.get("/audit")
async def audit_page(request: Request, actor: Text = "", action: Text = "",
                     resource: Text = "", since: Text = "", until: Text = "",
                     cursor: Annotated[str | None, Query(max_length=2048)] = None,
                     svc: Services = Depends(services),
                     principal: fv.Principal = Depends(current_principal)) -> Response:
    """One page of the audit trail, newest first."""
    principal.require(fv.Permission.READ_AUDIT)
    view = Filters(actor.strip(), action.strip(), resource.strip(), since.strip(),
                   until.strip())
    filters: list[fv.Filter] = []
    start, end = _moment(view.since, "from"), _moment(view.until, "until")
    if start is not None:
        filters.append(("created_at", ">=", start))
    if end is not None:
        filters.append(("created_at", "<", end))
    where: dict[str, Any] = {}
    if view.action:
        where["action"] = view.action
    if view.resource:
        where["resource_type"] = view.resource
    admins = {a.uid: a.email async for a in svc.store.admins.iterate()}
    uid = await _actor_uid(svc, view.actor) if view.actor else None
    if view.actor and uid is None:
        page: fv.Page[fv.AuditEntry] = fv.Page(items=[], next_cursor=None)
    else:
        if uid is not None:
            where["actor_uid"] = uid
        page = await svc.store.audit.list(limit=svc.settings.page_size, cursor=cursor,
                                          order_by="created_at", descending=True,
                                          filters=filters, **where)
    return render(request, "audit.html", {
        "view": view, "entries": page.items, "next_cursor": page.next_cursor,
        "paged": bool(cursor), "admins": admins, "actions": ACTIONS,
        "resource_types": RESOURCE_TYPES, "compact": compact,
        "unknown_actor": bool(view.actor) and uid is None})
