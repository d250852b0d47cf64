"""What the legacy SQL API did for three admin pages, on the raw collections.

Each returns the JSON the admin API answers, computed from the events the way
the SQL API computed it (``COUNT(*)`` queries, ``GROUP BY`` over the period,
``SELECT * FROM groups``), with the library's Firestore client:

* dashboard cards: 13 ``count()`` aggregations, run concurrently (kinder than
  the SQL API's one query after another);
* the 30-day analytics: every event of the period and of the 30 days before it
  streamed (``status`` and ``occurred_at`` only) and counted by UTC day;
* the groups page: every group listed, sorted by title, the first page kept.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from fsv_api.schemas import CountsOut, DashboardStats, TrendPointOut, VerificationsAnalytics
from google.cloud.firestore_v1.base_query import FieldFilter

import firestore_verify as fv

STATUSES = ("success", "failed", "error")
#: ``count()`` aggregations behind the dashboard's cards.
DASHBOARD_COUNTS = 4 + 3 + 3 + 3
PAGE_SIZE = 50


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _where(query: Any, field: str, op: str, value: Any) -> Any:
    return query.where(filter=FieldFilter(field, op, value))


async def _count(query: Any) -> int:
    result = await query.count().get()
    return int(result[0][0].value)


def _counts(statuses: Counter[str] | dict[str, int]) -> fv.Counts:
    return fv.Counts(sum(statuses[s] for s in STATUSES), *(statuses[s] for s in STATUSES))


async def dashboard(store: fv.Store) -> dict[str, Any]:
    """``GET /dashboard/stats`` from ``count()`` aggregations over the raw collections."""
    events: Any = store.collection("verifications")
    today = datetime.now(timezone.utc).date()
    days = {"today": (_midnight(today), None),
            "yesterday": (_midnight(today - timedelta(days=1)), _midnight(today))}

    def in_day(query: Any, name: str) -> Any:
        start, end = days[name]
        query = _where(query, "occurred_at", ">=", start)
        return query if end is None else _where(query, "occurred_at", "<", end)

    queries: dict[str, Any] = {
        "groups": _where(store.collection("protected_groups"), "enabled", "==", True),
        "channels": store.collection("enforced_channels"),
        "users": store.collection("verification_users"),
        "total": events,
        **{s: _where(events, "status", "==", s) for s in STATUSES},
        **{f"{name}:{s}": in_day(_where(events, "status", "==", s), name)
           for name in days for s in STATUSES},
    }
    assert len(queries) == DASHBOARD_COUNTS
    found = dict(zip(queries, await asyncio.gather(*map(_count, queries.values())), strict=True))
    stats = fv.Stats(total_groups=found["groups"], total_channels=found["channels"],
                     total_users=found["users"], total_verifications=found["total"],
                     success_count=found["success"], failed_count=found["failed"],
                     error_count=found["error"])
    today_counts, yesterday_counts = (
        _counts({s: found[f"{name}:{s}"] for s in STATUSES}) for name in days)
    overview = fv.Overview(stats=stats, today=today_counts, yesterday=yesterday_counts)
    answer: dict[str, Any] = DashboardStats.of(overview).model_dump(mode="json")
    return answer


async def analytics(store: fv.Store, days: int = 30) -> dict[str, Any]:
    """``GET /analytics/verifications?period=30d`` from every event of both periods."""
    now = datetime.now(timezone.utc)
    first = now.date() - timedelta(days=days - 1)
    query = _where(_where(store.collection("verifications"), "occurred_at", ">=",
                          _midnight(first - timedelta(days=days))), "occurred_at", "<=", now)
    by_day: defaultdict[date, Counter[str]] = defaultdict(Counter)
    async for snapshot in query.select(["status", "occurred_at"]).stream():
        by_day[snapshot.get("occurred_at").date()][str(snapshot.get("status"))] += 1
    current = _counts(sum((c for d, c in by_day.items() if d >= first), Counter()))
    previous = _counts(sum((c for d, c in by_day.items() if d < first), Counter()))
    trend = [TrendPointOut(start=_midnight(first + timedelta(days=i)),
                           counts=CountsOut.of(_counts(by_day[first + timedelta(days=i)])))
             for i in range(days)]
    answer: dict[str, Any] = VerificationsAnalytics(
        period=f"{days}d", current=CountsOut.of(current), previous=CountsOut.of(previous),
        change=fv.Comparison.change(current.total, previous.total),
        success_rate_change=round(current.success_rate - previous.success_rate, 2),
        trend=trend).model_dump(mode="json")
    return answer


async def groups_page(store: fv.Store) -> list[int]:
    """``GET /groups``' first page (ids, by title) from listing every group."""
    groups = [(str(snap.get("title_lower")), int(snap.id))
              async for snap in store.collection("protected_groups").stream()]
    return [group_id for _, group_id in sorted(groups)[:PAGE_SIZE]]
