"""A chatty user: every cache hit an event, or folded into one event a minute."""

import firestore_verify as fv

GROUP, CHANNEL = -1001234567890, -1009876543210


def hit(user_id: int) -> fv.Verification:
    """A check answered from the membership cache."""
    return fv.Verification(user_id=user_id, group_id=GROUP, channel_id=CHANNEL,
                           status=fv.Status.SUCCESS, cached=True)


# --8<-- [start:fold]
async def log_hits(store: fv.Store, messages: int) -> fv.LoggerStats:
    """``messages`` from one user within a minute: one event document, exact counters."""
    async with store.verifications.logger(cache_hits="fold", fold_seconds=60) as log:
        for _ in range(messages):
            log.record(hit(user_id=42))
    return log.stats


async def main(store: fv.Store) -> str:
    stats = await log_hits(store, messages=30)
    totals = await store.stats.get()
    events = await store.verifications.count()
    line = (f"recorded {stats.recorded}, folded {stats.folded}, event documents {events}, "
            f"total_verifications {totals.total_verifications}")
    print(line)
    return line
# --8<-- [end:fold]
