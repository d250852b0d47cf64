"""Period analytics from the daily rollups."""

from datetime import datetime, timedelta, timezone

import firestore_verify as fv


async def main(store: fv.Store) -> fv.Summary:
    now = datetime.now(timezone.utc)
    events = [
        fv.Verification(user_id=user, group_id=-1001, status=status,
                        occurred_at=now - timedelta(days=day))
        for day in range(10)
        for user, status in ((1, fv.Status.SUCCESS), (2, fv.Status.FAILED))
    ]
    await store.verifications.write_many(events)  # exactly once: re-running adds nothing

    week = await store.analytics.summary("7d")      # one rollup document per day
    print(f"last 7 days: {week.counts.total} verifications, {week.success_rate}% success")

    trend = await store.analytics.trend("7d")         # per UTC day, oldest first
    print("per day:", [point.counts.total for point in trend])

    growth = await store.analytics.growth("30d")      # new users, running total
    print("users:", growth[-1].total_users)

    group = await store.analytics.group(-1001)         # today and the last 7 days
    print(f"group -1001: {group.today.total} today, {group.week.total} this week")
    return week
