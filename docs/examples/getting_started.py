"""Getting started: protect a group, log verifications, read the totals.

Run it against the emulator:

    FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 python docs/examples/getting_started.py
"""

from __future__ import annotations

import anyio

import firestore_verify as fv

GROUP_ID = -1001234567890
CHANNEL_ID = -1009876543210


# --8<-- [start:main]
async def main(store: fv.Store) -> fv.Stats:
    # Protect a group with one enforced channel: group, owner, channel and
    # counters change together, in one transaction.
    await store.groups.protect(
        group=fv.GroupInfo(id=GROUP_ID, title="Crypto Chat"),
        owner=fv.OwnerInfo(id=42, username="alice"),
        channels=[fv.ChannelInfo(id=CHANNEL_ID, title="News", username="news")],
    )

    # One read gives the group with its enforced channels embedded.
    group = await store.groups.get(GROUP_ID)
    print(group.title, [channel.channel_id for channel in group.enforced_channels])

    # Log membership checks: batched, and counted exactly once.
    async with store.verifications.logger() as log:
        log.record(
            fv.Verification(
                user_id=7, group_id=GROUP_ID, channel_id=CHANNEL_ID, status=fv.Status.SUCCESS
            )
        )
        log.record(
            fv.Verification(
                user_id=8, group_id=GROUP_ID, channel_id=CHANNEL_ID, status=fv.Status.FAILED
            )
        )

    # Dashboard totals: a fixed number of reads, whatever the event volume.
    stats = await store.stats.get()
    print(stats.total_verifications, f"{stats.success_rate}%")
    return stats


# --8<-- [end:main]


# --8<-- [start:connect]
async def run() -> None:
    # The emulator when FIRESTORE_EMULATOR_HOST is set; production credentials otherwise.
    async with await fv.connect(project="my-bot") as store:
        await main(store)


# --8<-- [end:connect]


if __name__ == "__main__":
    anyio.run(run)
