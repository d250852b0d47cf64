"""The dashboard: cards, the 24 h chart by hour, and the activity feed, all live."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import firestore_verify as fv
from fsv_dashboard.render import fragment, render
from fsv_dashboard.security import current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.streams import page_stream

router = APIRouter()

#: Events the activity feed shows.
FEED_SIZE = 30
STATUSES = ("success", "failed", "error")


def _status(value: str | None) -> fv.Status | None:
    return fv.Status(value) if value in STATUSES else None


def chart_data(points: list[fv.TrendPoint], label: str = "%H:00") -> dict[str, Any]:
    """A stacked bar chart of the trend: counts by status per bucket (UTC)."""
    return {
        "type": "bar", "stacked": True,
        "labels": [p.start.strftime(label) for p in points],
        "series": [
            {"label": "success", "color": "--ok", "data": [p.counts.success for p in points]},
            {"label": "failed", "color": "--warn", "data": [p.counts.failed for p in points]},
            {"label": "error", "color": "--bad", "data": [p.counts.error for p in points]},
        ],
    }


def is_empty(overview: fv.Overview) -> bool:
    """Nothing at all in the database yet: no group, no channel, no verification."""
    stats = overview.stats
    return not (stats.total_groups or stats.total_channels or stats.total_verifications)


@router.get("/")
async def dashboard_page(request: Request, status: str | None = None,
                         svc: Services = Depends(services),
                         principal: fv.Principal = Depends(current_principal)) -> Response:
    """The dashboard, rendered with the current data; the stream keeps it live."""
    principal.require(fv.Permission.READ_DASHBOARD)
    analytics = svc.store.analytics
    # Three independent reads: at the same time, so the page waits for the slowest only.
    overview, feed, trend = await asyncio.gather(
        analytics.overview(),
        analytics.activity.latest(limit=FEED_SIZE, status=_status(status)),
        analytics.trend("24h", granularity="hour"))
    return render(request, "dashboard.html", {
        "overview": overview, "events": feed.items, "status": _status(status),
        "statuses": STATUSES, "chart": chart_data(trend), "empty": is_empty(overview)})


@router.get("/stream/dashboard")
async def dashboard_stream(status: str | None = None, svc: Services = Depends(services),
                           principal: fv.Principal = Depends(current_principal)) -> Response:
    """Events ``stats`` (cards), ``chart`` (24 h by hour) and ``activity`` (the feed)."""
    principal.require(fv.Permission.READ_DASHBOARD)
    store, templates = svc.store, svc.templates
    wanted = _status(status)
    day = store.analytics.overview_expires_at().date()

    async def on_overview(overview: fv.Overview) -> list[tuple[str, str]]:
        trend = await svc.derived.get("trend:24h:hour", overview, lambda: store.analytics.trend(
            "24h", granularity="hour"))
        return [("stats", fragment(templates, "_cards.html", principal, overview=overview,
                                   empty=is_empty(overview))),
                ("chart", fragment(templates, "_chart_data.html", principal,
                                   chart=chart_data(trend)))]

    async def on_activity(events: list[fv.Verification]) -> list[tuple[str, str]]:
        return [("activity", fragment(templates, "_feed.html", principal, events=events,
                                      status=wanted))]

    key = f"activity:{wanted.value if wanted else 'all'}:{FEED_SIZE}"
    return page_stream(svc, {
        "overview": ((f"overview:{day}", store.analytics.watch_overview), on_overview),
        "activity": ((key, lambda: store.analytics.activity.watch(limit=FEED_SIZE,
                                                                  status=wanted)), on_activity),
    })
