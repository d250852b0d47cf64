"""Analytics: a period against the one before, trend and growth charts, hour heatmap, CSV.

Every figure comes from the daily rollups of real verification events (one
document per day and shard). The page is computed once per load (no stream:
a period summary does not need to move with every event, and re-reading up
to 90 rollups per event would not keep costs flat).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import firestore_verify as fv
from fsv_dashboard.render import render
from fsv_dashboard.security import current_principal
from fsv_dashboard.services import Services, services
from fsv_dashboard.views.dashboard import chart_data

router = APIRouter()

PERIODS = ("24h", "7d", "30d", "90d")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _period(value: str) -> str:
    return value if value in PERIODS else "7d"


def heatmap(points: list[fv.TrendPoint]) -> dict[str, Any]:
    """Verifications by weekday and hour of day (UTC), and the largest cell."""
    cells = [[0] * 24 for _ in WEEKDAYS]
    for point in points:
        cells[point.start.weekday()][point.start.hour] += point.counts.total
    return {"rows": list(zip(WEEKDAYS, cells, strict=True)), "peak": max(max(row) for row in cells)}


def growth_data(points: list[fv.GrowthPoint]) -> dict[str, Any]:
    """A line chart of users: running total and new users per day."""
    return {"type": "line", "stacked": False,
            "labels": [p.day.isoformat() for p in points],
            "series": [
                {"label": "total users", "color": "--accent",
                 "data": [p.total_users for p in points]},
                {"label": "new users", "color": "--ok", "data": [p.new_users for p in points]},
            ]}


@router.get("/analytics")
async def analytics_page(request: Request, period: str = "7d",
                         svc: Services = Depends(services),
                         principal: fv.Principal = Depends(current_principal)) -> Response:
    """The period's figures against the previous period, with charts and the heatmap."""
    principal.require(fv.Permission.READ_ANALYTICS)
    chosen = _period(period)
    analytics = svc.store.analytics
    by_day = chosen != "24h"
    # One read of the period's rollups for the figures and the main trend.
    report = await analytics.report(chosen, granularity="day" if by_day else "hour")
    comparison, trend = report.comparison, report.trend
    hourly = trend if not by_day else await analytics.trend(chosen, granularity="hour")
    growth = await analytics.growth(chosen if by_day else "7d")
    stats = await svc.store.stats.get()
    total_before = growth[0].total_users - growth[0].new_users if growth else 0
    growth_rate = fv.Comparison.change(stats.total_users, total_before)
    return render(request, "analytics.html", {
        "period": chosen, "periods": PERIODS, "comparison": comparison, "stats": stats,
        "growth_rate": growth_rate,
        "trend": chart_data(trend, "%m-%d" if by_day else "%H:00"),
        "growth": growth_data(growth), "heatmap": heatmap(hourly)})


@router.get("/analytics/export.csv")
async def export_csv(period: str = "7d", svc: Services = Depends(services),
                     principal: fv.Principal = Depends(current_principal)) -> Response:
    """The period's trend as CSV: one row per UTC day (per hour for 24 h)."""
    principal.require(fv.Permission.READ_ANALYTICS)
    chosen = _period(period)
    points = await svc.store.analytics.trend(
        chosen, granularity="hour" if chosen == "24h" else "day")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["start", "total", "success", "failed", "error", "success_rate"])
    for p in points:
        writer.writerow([p.start.isoformat(), p.counts.total, p.counts.success,
                         p.counts.failed, p.counts.error, p.counts.success_rate])
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="verifications-{chosen}.csv"',
        "Cache-Control": "no-store"})
