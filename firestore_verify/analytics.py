"""Analytics from daily rollups: summaries, trends, user growth, per-group stats.

Every period read touches one rollup document per day (per shard), never the
events themselves, so a 30-day summary costs about 30 reads whatever the volume.
The activity feed reads the latest events directly (it is a page, not a scan).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from firestore_verify.errors import InvalidInputError
from firestore_verify.live import LiveStream, query_source
from firestore_verify.models import Stats, Status, Verification
from firestore_verify.repositories._base import Page
from firestore_verify.rollups import DAILY, GROUP_DAILY, day_start

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = [
    "Activity",
    "Analytics",
    "Comparison",
    "Counts",
    "Overview",
    "GroupStats",
    "GrowthPoint",
    "Period",
    "Report",
    "Summary",
    "TrendPoint",
]

Period = Literal["24h", "7d", "30d", "90d"]
"""The periods the dashboard offers."""
_PERIOD_DAYS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
_STATUSES = ("success", "failed", "error")


async def count_checks(query: Any, options: Mapping[str, Any]) -> int:
    """The checks ``query``'s events stand for: one each, plus their ``repeats``.

    Two aggregations, apart on purpose: Firestore sums from index entries, so the
    sum scans an index holding ``repeats`` (see ``firestore.indexes.json``), which
    events stored without the field are not in; the count must not depend on it.
    """
    counted = await query.count().get(**options)
    summed = await query.sum("repeats").get(**options)
    return int(counted[0][0].value) + int(summed[0][0].value or 0)


@dataclass(frozen=True)
class Counts:
    """Verification counts by status."""

    total: int = 0
    """Verifications of every status (the sum of the three below)."""
    success: int = 0
    """Verifications with status ``success``."""
    failed: int = 0
    """Verifications with status ``failed``."""
    error: int = 0
    """Verifications with status ``error``."""

    @property
    def success_rate(self) -> float:
        """Percentage of checks that succeeded (0-100)."""
        return round(self.success / self.total * 100, 2) if self.total else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.total + other.total, self.success + other.success,
                      self.failed + other.failed, self.error + other.error)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Counts:
        """Counts read from a rollup document (or one of its ``hours`` entries)."""
        return cls(*(int(data.get(name) or 0) for name in ("total", *_STATUSES)))


@dataclass(frozen=True)
class Summary:
    """Totals over a period."""

    period: str
    """The period asked for: ``24h``, ``7d``, ``30d`` or ``90d``."""
    start: datetime
    """Start of the period (UTC): the top of the hour 24 hours back, or 00:00 of its first day."""
    end: datetime
    """End of the period (UTC): the time of the call, or one period earlier with ``before``."""
    counts: Counts
    """Verifications in the period, by status."""
    new_users: int
    """Users seen for the first time ever during the period."""
    documents_read: int
    """Rollup documents read to answer (the cost)."""

    @property
    def success_rate(self) -> float:
        """Percentage of checks that succeeded in the period."""
        return self.counts.success_rate


@dataclass(frozen=True)
class TrendPoint:
    """One bucket (a UTC day or hour) of the verification trend."""

    start: datetime
    """Start of the bucket (UTC): 00:00 of the day, or the top of the hour."""
    counts: Counts
    """Verifications in the bucket, by status (zeros when there were none)."""


@dataclass(frozen=True)
class GrowthPoint:
    """Users on one UTC day: first seen that day, and all seen up to its end."""

    day: date
    """The UTC day."""
    new_users: int
    """Users seen for the first time ever that day."""
    total_users: int
    """Users ever seen up to the end of that day (worked back from the counters)."""
    unique_users: int
    """Distinct users verified that day."""


@dataclass(frozen=True)
class GroupStats:
    """One group's verifications today and over the last 7 days."""

    group_id: int
    """Telegram chat id of the group."""
    today: Counts
    """The group's verifications since 00:00 UTC today."""
    week: Counts
    """The group's verifications over the last 7 UTC days, today included."""
    unique_users_today: int
    """Distinct users verified in the group today (UTC)."""
    new_users_week: int
    """Users seen in this group for the first time during those 7 days."""

    @property
    def success_rate(self) -> float:
        """The group's success rate over the week."""
        return self.week.success_rate


@dataclass(frozen=True)
class Comparison:
    """A period's summary beside the same-length period just before it."""

    current: Summary
    """The summary of the period asked for."""
    previous: Summary
    """The summary of the same-length period just before it."""

    @staticmethod
    def change(now: float, before: float) -> float | None:
        """Relative change in percent (``None`` when the earlier value is zero)."""
        return round((now - before) / before * 100, 2) if before else None

    @property
    def verifications_change(self) -> float | None:
        """Change of the number of verifications against the previous period, in %."""
        return self.change(self.current.counts.total, self.previous.counts.total)

    @property
    def new_users_change(self) -> float | None:
        """Change of the number of new users against the previous period, in %."""
        return self.change(self.current.new_users, self.previous.new_users)

    @property
    def success_rate_change(self) -> float:
        """Success rate now minus before, in percentage points."""
        return round(self.current.success_rate - self.previous.success_rate, 2)


@dataclass(frozen=True)
class Report:
    """A period against the previous one, with its trend: what an analytics page shows."""

    comparison: Comparison
    """The period's summary against the previous period's."""
    trend: list[TrendPoint]
    """Per day (or hour), oldest first."""


@dataclass(frozen=True)
class Overview:
    """What a dashboard's cards show: totals, and today against yesterday (UTC days)."""

    stats: Stats
    """Totals from the counters (a fixed number of reads)."""
    today: Counts
    """Verifications since 00:00 UTC today."""
    yesterday: Counts
    """Verifications during yesterday (UTC)."""

    @property
    def today_change(self) -> float | None:
        """Today's verifications against all of yesterday's, in % (``None``: none yesterday)."""
        return Comparison.change(self.today.total, self.yesterday.total)


@dataclass
class _DayTotals:
    counts: Counts = field(default_factory=Counts)
    hours: dict[int, Counts] = field(default_factory=dict)
    new_users: int = 0
    unique_users: int = 0


def _merge(docs: Iterable[Mapping[str, Any]]) -> dict[str, _DayTotals]:
    """Add up rollup shard documents by day."""
    days: dict[str, _DayTotals] = {}
    for data in docs:
        totals = days.setdefault(data["day"], _DayTotals())
        totals.counts = totals.counts + Counts.of(data)
        totals.new_users += int(data.get("new_users") or 0)
        totals.unique_users += int(data.get("unique_users") or 0)
        for hour, values in (data.get("hours") or {}).items():
            h = int(hour)
            totals.hours[h] = totals.hours.get(h, Counts()) + Counts.of(values)
    return days


def _summarize(period: str, now: datetime, start: datetime, days: int,
               totals: dict[str, _DayTotals], read: int) -> Summary:
    """The `Summary` of ``period`` from its merged rollups (pure)."""
    if period == "24h":
        counts = Counts()
        for day, t in totals.items():
            for hour, c in t.hours.items():
                moment = day_start(day) + timedelta(hours=hour)
                if start - timedelta(hours=1) < moment <= now:
                    counts = counts + c
        new_users = sum(t.new_users for t in totals.values())
        return Summary(period, start.replace(minute=0, second=0, microsecond=0), now,
                       counts, new_users, read)
    first = now.date() - timedelta(days=days - 1)
    counts = sum((t.counts for t in totals.values()), Counts())
    return Summary(period, day_start(first.isoformat()), now, counts,
                   sum(t.new_users for t in totals.values()), read)


def _trend(period: str, granularity: str, now: datetime, start: datetime, days: int,
           totals: dict[str, _DayTotals]) -> list[TrendPoint]:
    """The trend points of ``period`` from its merged rollups (pure)."""
    first = start.date() if period == "24h" else now.date() - timedelta(days=days - 1)
    points: list[TrendPoint] = []
    day = first
    while day <= now.date():
        t = totals.get(day.isoformat(), _DayTotals())
        if granularity == "day":
            points.append(TrendPoint(day_start(day.isoformat()), t.counts))
        else:
            for hour in range(24):
                moment = day_start(day.isoformat()) + timedelta(hours=hour)
                if moment > now or (period == "24h" and moment <= start - timedelta(hours=1)):
                    continue
                points.append(TrendPoint(moment, t.hours.get(hour, Counts())))
        day += timedelta(days=1)
    return points


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Activity:
    """The activity feed: latest verification events, newest first."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def latest(self, *, limit: int = 50, cursor: str | None = None,
                     status: Status | str | None = None,
                     group_id: int | None = None) -> Page[Verification]:
        """One page of events, newest first, optionally of one status and/or group."""
        return await self._store.verifications.latest(limit=limit, cursor=cursor,
                                                      status=status, group_id=group_id)

    def watch(self, *, limit: int = 50, status: Status | str | None = None,
              group_id: int | None = None) -> LiveStream[list[Verification]]:
        """The latest ``limit`` events, live: a new list whenever one lands."""
        if not 1 <= limit <= 500:
            raise InvalidInputError(f"limit must be between 1 and 500, not {limit}.")
        sync = self._store.sync_client
        query: Any = sync.collection(self._store.collection_name(Verification.collection))
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", Status(status).value))
        if group_id is not None:
            query = query.where(filter=FieldFilter("group_id", "==", group_id))
        query = query.order_by("occurred_at", direction=firestore.Query.DESCENDING).limit(limit)

        def combine(sources: list[list[Any]]) -> list[Verification]:
            events = [Verification.from_document(s.id, s.to_dict() or {}) for s in sources[0]]
            return sorted(events, key=lambda e: e.occurred_at, reverse=True)

        return LiveStream([query_source(query)], combine)


class Analytics:
    """Period analytics from the daily rollups (``store.analytics``)."""

    def __init__(self, store: Store, *, clock: Any = _now) -> None:
        self._store = store
        self._clock = clock
        self.activity = Activity(store)
        """The activity feed (latest events, live)."""

    async def _daily(self, first: date, last: date) -> tuple[dict[str, _DayTotals], int]:
        col = self._store.collection(DAILY)
        query = (col.where(filter=FieldFilter("__name__", ">=", col.document(first.isoformat())))
                    .where(filter=FieldFilter("__name__", "<=",
                                              col.document(f"{last.isoformat()}~~"))))
        docs = [s.to_dict() or {} for s in await self._read(query)]
        return _merge(docs), len(docs)

    async def _read(self, query: Any) -> list[Any]:
        calls = self._store.calls
        return await calls.collect(partial(query.stream, **calls.attempt))

    async def _group_daily(self, group_id: int, first: date,
                           last: date) -> dict[str, _DayTotals]:
        col = self._store.collection(GROUP_DAILY)
        low, high = f"{group_id}_{first.isoformat()}", f"{group_id}_{last.isoformat()}~~"
        query = (col.where(filter=FieldFilter("__name__", ">=", col.document(low)))
                    .where(filter=FieldFilter("__name__", "<=", col.document(high))))
        return _merge([s.to_dict() or {} for s in await self._read(query)])

    def _period(self, period: str, *, before: bool = False) -> tuple[datetime, datetime, int]:
        if period not in _PERIOD_DAYS:
            raise InvalidInputError(
                f"unknown period {period!r}; use one of {', '.join(_PERIOD_DAYS)}."
            )
        days = _PERIOD_DAYS[period]
        now = self._clock() - (timedelta(days=days) if before else timedelta())
        return now, now - timedelta(days=days), days

    def _first_day(self, period: str, now: datetime, start: datetime, days: int) -> date:
        """The first UTC day the period's rollups cover."""
        return start.date() if period == "24h" else now.date() - timedelta(days=days - 1)

    async def summary(self, period: Period | str = "7d", *, before: bool = False) -> Summary:
        """Counts and success rate over ``24h`` (rolling, by hour) or the last N UTC days.

        With ``before``, the same-length period just before that one (for
        comparisons); day periods count whole UTC days, as the rollups do.
        """
        now, start, days = self._period(period, before=before)
        totals, read = await self._daily(self._first_day(period, now, start, days), now.date())
        return _summarize(period, now, start, days, totals, read)

    async def compare(self, period: Period | str = "7d") -> Comparison:
        """The period's summary and the previous period's (twice the rollup reads)."""
        return Comparison(await self.summary(period), await self.summary(period, before=True))

    async def overview(self) -> Overview:
        """Totals, today and yesterday: the counters plus two daily rollups per shard."""
        today = self._clock().date()
        totals, _ = await self._daily(today - timedelta(days=1), today)
        empty = _DayTotals()
        return Overview(
            stats=await self._store.stats.get(),
            today=totals.get(today.isoformat(), empty).counts,
            yesterday=totals.get((today - timedelta(days=1)).isoformat(), empty).counts,
        )

    def watch_overview(self) -> LiveStream[Overview]:
        """`overview()`, live: the counters plus yesterday's and today's rollups.

        The days are fixed when the stream is created: a server streaming it
        to browsers should end the stream at the next UTC midnight (see
        `overview_expires_at()`) so that clients reconnect onto the new day.
        """
        today = self._clock().date()
        yesterday = today - timedelta(days=1)
        sync = self._store.sync_client
        col = sync.collection(self._store.collection_name(DAILY))
        rollups = (col.where(filter=FieldFilter("__name__", ">=",
                                                col.document(yesterday.isoformat())))
                      .where(filter=FieldFilter("__name__", "<=",
                                                col.document(f"{today.isoformat()}~~"))))
        stats = self._store.stats.watch()

        def combine(sources: list[list[Any]]) -> Overview:
            totals = _merge([snap.to_dict() or {} for snap in sources[-1]])
            empty = _DayTotals()
            return Overview(
                stats=stats.combine(sources[:-1]),
                today=totals.get(today.isoformat(), empty).counts,
                yesterday=totals.get(yesterday.isoformat(), empty).counts,
            )

        return LiveStream([*stats.sources, query_source(rollups)], combine)

    def overview_expires_at(self) -> datetime:
        """The next UTC midnight: when a `watch_overview()` stream goes stale."""
        return day_start((self._clock().date() + timedelta(days=1)).isoformat())

    async def trend(self, period: Period | str = "7d", *,
                    granularity: Literal["day", "hour"] = "day") -> list[TrendPoint]:
        """Total / successful / failed (and error) per UTC day or hour, oldest first.

        Buckets with no verifications are included with zero counts.
        """
        if granularity not in ("day", "hour"):
            raise InvalidInputError("granularity must be 'day' or 'hour'.")
        now, start, days = self._period(period)
        totals, _ = await self._daily(self._first_day(period, now, start, days), now.date())
        return _trend(period, granularity, now, start, days, totals)

    async def report(self, period: Period | str = "7d", *,
                     granularity: Literal["day", "hour"] = "day") -> Report:
        """`compare()` and `trend()` of one period together, reading its rollups once."""
        if granularity not in ("day", "hour"):
            raise InvalidInputError("granularity must be 'day' or 'hour'.")
        now, start, days = self._period(period)
        totals, read = await self._daily(self._first_day(period, now, start, days), now.date())
        current = _summarize(period, now, start, days, totals, read)
        return Report(Comparison(current, await self.summary(period, before=True)),
                      _trend(period, granularity, now, start, days, totals))

    async def growth(self, period: Period | str = "30d") -> list[GrowthPoint]:
        """New users and the running total of users per UTC day, oldest first."""
        now, _, days = self._period(period)
        first = now.date() - timedelta(days=days - 1)
        totals, _ = await self._daily(first, now.date())
        total_now = (await self._store.stats.get()).total_users
        new_in_period = sum(t.new_users for t in totals.values())
        running = total_now - new_in_period
        points: list[GrowthPoint] = []
        day = first
        while day <= now.date():
            t = totals.get(day.isoformat(), _DayTotals())
            running += t.new_users
            points.append(GrowthPoint(day, t.new_users, running, t.unique_users))
            day += timedelta(days=1)
        return points

    async def channel_today(self, channel_id: int) -> Counts:
        """One channel's checks since 00:00 UTC: three aggregations on the events.

        Rollups are per group, not per channel, so this counts the events (an
        aggregation reads one index entry per 1,000 events, not the events). An
        event of folded cache hits counts ``1 + repeats`` checks, as the counters do.
        """
        midnight = day_start(self._clock().date().isoformat())
        col = self._store.collection(Verification.collection)
        base: Any = (col.where(filter=FieldFilter("channel_id", "==", channel_id))
                   .where(filter=FieldFilter("occurred_at", ">=", midnight)))
        by_status = []
        for status in _STATUSES:
            by_status.append(await count_checks(
                base.where(filter=FieldFilter("status", "==", status)), self._store.calls.options))
        return Counts(sum(by_status), *by_status)

    async def group(self, group_id: int) -> GroupStats:
        """One group's counts today and over the last 7 UTC days (7 rollups per shard)."""
        today = self._clock().date()
        totals = await self._group_daily(group_id, today - timedelta(days=6), today)
        today_totals = totals.get(today.isoformat(), _DayTotals())
        return GroupStats(
            group_id=group_id,
            today=today_totals.counts,
            week=sum((t.counts for t in totals.values()), Counts()),
            unique_users_today=today_totals.unique_users,
            new_users_week=sum(t.new_users for t in totals.values()),
        )
