"""Two bot processes (two stores here) share the counter shards through leases."""

import anyio

import firestore_verify as fv


# --8<-- [start:leases]
async def run_process(store: fv.Store, user_ids: range) -> fv.LoggerHealth:
    """The same code in every process: add processes, change nothing."""
    async with store.verifications.logger(shards=4, leases=True) as log:
        for user_id in user_ids:
            await log.put(fv.Verification(user_id=user_id, group_id=-1001234567890,
                                          status=fv.Status.SUCCESS))
        await log.flush()
        return log.health  # health.shards: the shards this process may write now
# --8<-- [end:leases]


async def main(store: fv.Store) -> list[str]:
    other = await fv.connect(project=store.project, emulator_host=store.settings.emulator_host)
    statuses: list[str] = []

    async def one(target: fv.Store, users: range) -> None:
        statuses.append((await run_process(target, users)).status)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(one, store, range(1, 51))
            tg.start_soon(one, other, range(51, 101))
    finally:
        await other.close()
    print("health of both processes:", statuses)
    print("total_verifications:", (await store.stats.get()).total_verifications)
    return statuses
