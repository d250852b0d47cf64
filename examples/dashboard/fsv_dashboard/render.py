"""Jinja2 rendering: whole pages (with the CSRF cookie) and the fragments SSE events carry."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import firestore_verify as fv
from fsv_dashboard.security import CSRF_COOKIE, CSRF_FIELD, csrf_token
from fsv_dashboard.services import services

__all__ = ["build_templates", "fragment", "render"]

TEMPLATES = Path(__file__).parent / "templates"

#: The pages of the nav: (path, label, permission needed to see it).
NAV: tuple[tuple[str, str, fv.Permission], ...] = (
    ("/", "Dashboard", fv.Permission.READ_DASHBOARD),
    ("/groups", "Groups", fv.Permission.READ_GROUPS),
    ("/channels", "Channels", fv.Permission.READ_CHANNELS),
    ("/logs", "Logs", fv.Permission.READ_LOGS),
    ("/analytics", "Analytics", fv.Permission.READ_ANALYTICS),
    ("/config", "Config", fv.Permission.READ_CONFIG),
    ("/database", "Database", fv.Permission.READ_DATABASE),
    ("/admins", "Admins", fv.Permission.MANAGE_ADMINS),
    ("/audit", "Audit", fv.Permission.READ_AUDIT),
)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%H:%M:%S")


def _number(value: int | float | None) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _change(value: float | None) -> str:
    if value is None:
        return "none yesterday"
    return f"{value:+.1f}% vs yesterday"


def _query(base: dict[str, Any], **changes: Any) -> str:
    merged = {**base, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def build_templates() -> Jinja2Templates:
    """The templates, with the dashboard's filters."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.filters.update(when=_when, clock=_clock, number=_number, change=_change)
    env.globals.update(NAV=NAV, P=fv.Permission, query=_query, CSRF_FIELD=CSRF_FIELD,
                       version=fv.__version__, tojson_compact=lambda v: json.dumps(v))
    return templates


def _context(request: Request | None, principal: fv.Principal | None,
             context: dict[str, Any]) -> dict[str, Any]:
    def can(permission: fv.Permission) -> bool:
        return principal is not None and principal.can(permission)

    return {"principal": principal, "can": can, **context} if request is None else {
        "request": request, "principal": principal, "can": can,
        "csrf": csrf_token(request), "path": request.url.path, **context}


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """A whole page; sets this browser's CSRF cookie when it has none yet."""
    svc = services(request)
    principal: fv.Principal | None = getattr(request.state, "principal", None)
    response = svc.templates.TemplateResponse(
        request, name, _context(request, principal, dict(context or {})),
        status_code=status_code, headers={"Cache-Control": "no-store"})
    fresh: str | None = getattr(request.state, "new_csrf", None)
    if fresh is not None and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, fresh, httponly=True, samesite="strict", path="/",
                            secure=svc.settings.cookie_secure)
    return response


def fragment(templates: Jinja2Templates, name: str, principal: fv.Principal | None,
             **context: Any) -> str:
    """A template rendered to a string: the HTML an SSE event carries."""
    return templates.get_template(name).render(_context(None, principal, context))
