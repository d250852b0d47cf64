"""Record verifications from a bot and read the live totals."""

import firestore_verify as fv


async def main(store: fv.Store) -> fv.Stats:
    await store.groups.protect(
        group=fv.GroupInfo(id=-1001234567890, title="Crypto Chat"),
        owner=fv.OwnerInfo(id=42, username="alice"),
        channels=[fv.ChannelInfo(id=-1009876543210, title="News", username="news")],
    )
    async with store.verifications.logger() as log:  # flushes everything on exit
        log.record(fv.Verification(
            user_id=7, group_id=-1001234567890, channel_id=-1009876543210,
            status=fv.Status.FAILED, latency_ms=42.0,
        ))
        log.record(fv.Verification(
            user_id=7, group_id=-1001234567890, channel_id=-1009876543210,
            status=fv.Status.SUCCESS, latency_ms=38.5, cached=False,
        ))
    stats = await store.stats.get()  # a fixed number of reads, whatever the volume
    print(f"{stats.total_verifications} verifications, {stats.success_rate}% success, "
          f"{stats.total_users} user, {stats.total_groups} group")
    return stats
