"""Watch the dashboard totals live: no polling."""

import firestore_verify as fv


async def main(store: fv.Store) -> list[int]:
    seen: list[int] = []
    async with store.stats.watch() as totals, store.verifications.logger() as log:
        async for stats in totals:  # the newest value; slow consumers skip stale ones
            seen.append(stats.total_verifications)
            if stats.total_verifications == 1:
                break
            log.record(fv.Verification(user_id=7, group_id=-1001, status=fv.Status.SUCCESS))
    # Leaving the block stopped the listener and its thread.
    print("total_verifications seen:", seen)
    return seen
