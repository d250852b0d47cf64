"""Events that expire: the logger stamps each with expires_at, a TTL policy deletes them."""

import firestore_verify as fv

GROUP_ID = -1001234567890


# --8<-- [start:retention]
async def log_with_retention(store: fv.Store) -> fv.Verification:
    """Keep events 90 days: each gets ``expires_at = occurred_at + 90 days``."""
    async with store.verifications.logger(retention_days=90) as log:
        event = log.record(fv.Verification(user_id=7, group_id=GROUP_ID,
                                           status=fv.Status.SUCCESS))
    return event


async def main(store: fv.Store) -> str:
    event = await log_with_retention(store)
    stored = await store.verifications.get(event.id)  # what Firestore holds
    assert stored.expires_at is not None
    kept = stored.expires_at - stored.occurred_at
    line = f"kept for {kept.days} days and {kept.seconds} seconds"
    print(line)
    return line
# --8<-- [end:retention]
