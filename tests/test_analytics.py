"""Analytics from rollups match a recount of the raw events."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import anyio
import pytest
from helpers_events import make_events, raw_events

import firestore_verify as fv

pytestmark = pytest.mark.anyio

NOW = datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0)


def recount(events: list[dict], start: datetime, end: datetime) -> fv.Counts:
    chosen = [e for e in events if start <= e["occurred_at"] <= end]
    by = Counter(e["status"] for e in chosen)
    return fv.Counts(len(chosen), by["success"], by["failed"], by["error"])


@pytest.fixture
async def history(store: fv.Store) -> list[dict]:
    """~600 events over the last 40 days, plus a burst around the last UTC midnight."""
    midnight = NOW.replace(hour=0, minute=0)
    events = make_events(500, users=80, start=NOW - timedelta(days=40),
                         spread=timedelta(days=40), seed=3)
    events += make_events(100, users=80, start=midnight - timedelta(minutes=20),
                          spread=timedelta(minutes=40), seed=4)
    await store.verifications.write_many(events)
    return await raw_events(store)


async def test_summaries_match_a_recount(store: fv.Store, history: list[dict]) -> None:
    analytics = fv.Analytics(store, clock=lambda: NOW)
    for period, days in (("7d", 7), ("30d", 30), ("90d", 90)):
        summary = await analytics.summary(period)
        start = (NOW - timedelta(days=days - 1)).replace(hour=0, minute=0)
        assert summary.counts == recount(history, start, NOW), period
        assert summary.success_rate == summary.counts.success_rate
        assert summary.documents_read <= days
    day = await analytics.summary("24h")
    # Hour buckets: everything from the start of the hour 24h ago up to now.
    assert day.counts == recount(history, day.start, NOW)


async def test_thirty_day_summary_reads_one_rollup_per_day(store: fv.Store,
                                                          history: list[dict]) -> None:
    summary = await fv.Analytics(store, clock=lambda: NOW).summary("30d")
    days_with_events = {e["occurred_at"].date() for e in history
                        if e["occurred_at"].date() > (NOW - timedelta(days=30)).date()}
    assert summary.documents_read == len(days_with_events)


async def test_daily_and_hourly_trend(store: fv.Store, history: list[dict]) -> None:
    analytics = fv.Analytics(store, clock=lambda: NOW)
    daily = await analytics.trend("7d")
    assert len(daily) == 7
    for point in daily:
        end = point.start + timedelta(days=1) - timedelta(microseconds=1)
        assert point.counts == recount(history, point.start, end)
    hourly = await analytics.trend("24h", granularity="hour")
    assert 24 <= len(hourly) <= 25
    for point in hourly:
        end = point.start + timedelta(hours=1) - timedelta(microseconds=1)
        assert point.counts == recount(history, point.start, end)
    with pytest.raises(fv.InvalidInputError):
        await analytics.trend("7d", granularity="minute")  # type: ignore[arg-type]


async def test_user_growth(store: fv.Store, history: list[dict]) -> None:
    points = await fv.Analytics(store, clock=lambda: NOW).growth("30d")
    assert len(points) == 30
    first_seen: dict[int, datetime] = {}
    for e in sorted(history, key=lambda e: e["occurred_at"]):
        first_seen.setdefault(e["user_id"], e["occurred_at"])
    for point in points:
        end = datetime.combine(point.day, datetime.max.time(), tzinfo=timezone.utc)
        assert point.new_users == sum(1 for t in first_seen.values() if t.date() == point.day)
        assert point.total_users == sum(1 for t in first_seen.values() if t <= end)
        assert point.unique_users == len({e["user_id"] for e in history
                                          if e["occurred_at"].date() == point.day})


async def test_group_stats(store: fv.Store, history: list[dict]) -> None:
    stats = await fv.Analytics(store, clock=lambda: NOW).group(-1001)
    mine = [e for e in history if e["group_id"] == -1001]
    today = NOW.replace(hour=0, minute=0)
    assert stats.today == recount(mine, today, NOW)
    assert stats.week == recount(mine, today - timedelta(days=6), NOW)
    assert stats.unique_users_today == len({e["user_id"] for e in mine
                                            if e["occurred_at"] >= today})


async def test_activity_feed_newest_first_with_filters(store: fv.Store,
                                                       history: list[dict]) -> None:
    page = await store.analytics.activity.latest(limit=20, status="failed", group_id=-1002)
    expected = sorted((e for e in history if e["status"] == "failed" and e["group_id"] == -1002),
                      key=lambda e: e["occurred_at"], reverse=True)[:20]
    assert [e.occurred_at for e in page.items] == [e["occurred_at"] for e in expected]
    assert all(e.status is fv.Status.FAILED and e.group_id == -1002 for e in page.items)
    following = await store.analytics.activity.latest(limit=20, status="failed",
                                                      group_id=-1002, cursor=page.next_cursor)
    assert following.items[0].occurred_at <= page.items[-1].occurred_at


async def test_unknown_period_is_a_typed_error(store: fv.Store) -> None:
    with pytest.raises(fv.InvalidInputError, match="7d"):
        await store.analytics.summary("1y")


async def test_previous_period_and_overview_match_a_recount(store: fv.Store,
                                                            history: list[dict]) -> None:
    analytics = fv.Analytics(store, clock=lambda: NOW)
    midnight = NOW.replace(hour=0, minute=0)
    for period, days in (("7d", 7), ("30d", 30)):
        comparison = await analytics.compare(period)
        assert comparison.current == await analytics.summary(period)
        start = midnight - timedelta(days=2 * days - 1)
        end = midnight - timedelta(days=days - 1) - timedelta(microseconds=1)
        assert comparison.previous.counts == recount(history, start, end), period
        before, now = comparison.previous.counts.total, comparison.current.counts.total
        assert comparison.verifications_change == (
            round((now - before) / before * 100, 2) if before else None)
    overview = await analytics.overview()
    assert overview.stats == await store.stats.get()
    assert overview.today == recount(history, midnight, NOW)
    assert overview.yesterday == recount(history, midnight - timedelta(days=1),
                                         midnight - timedelta(microseconds=1))
    assert overview.yesterday.total > 0  # the burst around midnight
    assert overview.today_change == round(
        (overview.today.total - overview.yesterday.total) / overview.yesterday.total * 100, 2)


async def test_an_empty_database_gives_zeros(store: fv.Store) -> None:
    analytics = fv.Analytics(store, clock=lambda: NOW)
    overview = await analytics.overview()
    assert (overview.today, overview.yesterday, overview.today_change) == (
        fv.Counts(), fv.Counts(), None)
    comparison = await analytics.compare("90d")
    assert comparison.current.counts == comparison.previous.counts == fv.Counts()
    assert comparison.verifications_change is None
    assert comparison.success_rate_change == 0.0


async def test_the_overview_is_live(store: fv.Store) -> None:
    analytics = fv.Analytics(store)
    today = datetime.now(timezone.utc)
    async with analytics.watch_overview() as overview:
        first = await overview.next()
        assert (first.stats.total_verifications, first.today.total) == (0, 0)
        await store.verifications.write_many(
            # Never before midnight, so the three land on today whenever this runs.
            make_events(3, users=3, start=max(today - timedelta(seconds=30),
                                              today.replace(hour=0, minute=0, second=0)),
                        spread=timedelta(seconds=1), seed=9))
        with anyio.fail_after(10):
            latest = await overview.next()
            while latest.today.total < 3 or latest.stats.total_verifications < 3:
                latest = await overview.next()
        assert latest.today == (await analytics.overview()).today
        assert latest.yesterday == fv.Counts()
    assert analytics.overview_expires_at() > today
    assert analytics.overview_expires_at() - today <= timedelta(days=1)


async def test_channel_today_matches_a_recount(store: fv.Store, history: list[dict]) -> None:
    analytics = fv.Analytics(store, clock=lambda: NOW)
    midnight = NOW.replace(hour=0, minute=0)
    channels = {e["channel_id"] for e in history}
    for channel in channels:
        chosen = [e for e in history
                  if e["channel_id"] == channel and midnight <= e["occurred_at"]]
        by = Counter(e["status"] for e in chosen)
        assert await analytics.channel_today(channel) == fv.Counts(
            len(chosen), by["success"], by["failed"], by["error"])
    assert await analytics.channel_today(-42) == fv.Counts()


async def test_channel_today_counts_folded_checks_like_the_counters(store: fv.Store) -> None:
    """An event of folded cache hits stands for 1 + repeats checks, here as in the
    counters (an event stored without ``repeats`` counts one)."""
    channel = -3001
    await store.verifications.write_many([
        fv.Verification(user_id=1, group_id=-1001, channel_id=channel, repeats=4,
                        status=fv.Status.SUCCESS, occurred_at=NOW),
        fv.Verification(user_id=2, group_id=-1001, channel_id=channel,
                        status=fv.Status.FAILED, occurred_at=NOW),
    ])
    await store.collection("verifications").document("without-repeats").set({
        "user_id": 3, "group_id": -1001, "channel_id": channel, "status": "error",
        "occurred_at": NOW})
    today = await fv.Analytics(store, clock=lambda: NOW).channel_today(channel)
    assert today == fv.Counts(7, 5, 1, 1)
    stats = await store.stats.get()
    assert (stats.success_count, stats.failed_count) == (5, 1)


async def test_report_equals_compare_and_trend(store: fv.Store, history: list[dict]) -> None:
    analytics = fv.Analytics(store, clock=lambda: NOW)
    for period, granularity in (("24h", "hour"), ("7d", "day"), ("30d", "day")):
        report = await analytics.report(period, granularity=granularity)
        assert report.comparison == await analytics.compare(period)
        assert report.trend == await analytics.trend(period, granularity=granularity)
