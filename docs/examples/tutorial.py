"""Five minutes with firestore-verify: a local emulator, a protected group, exact counts."""

import anyio

import firestore_verify as fv
from firestore_verify.testing import FirestoreEmulator

GROUP_ID = -1001234567890  # a Telegram supergroup
CHANNEL_ID = -1009876543210  # the channel its members must join


async def main(emulator_host: str) -> None:
    async with await fv.connect(project="demo-tutorial", emulator_host=emulator_host) as store:
        # Protect the group: group, owner, channel and counters change in one transaction.
        await store.groups.protect(
            group=fv.GroupInfo(id=GROUP_ID, title="Crypto Chat"),
            owner=fv.OwnerInfo(id=42, username="alice"),
            channels=[fv.ChannelInfo(id=CHANNEL_ID, title="News", username="news")],
        )
        group = await store.groups.get(GROUP_ID)  # one read, channels embedded
        channels = [channel.channel_id for channel in group.enforced_channels]
        print("protected:", group.title, "enforcing", channels)

        # Log two membership checks: batched, committed exactly once.
        async with store.verifications.logger() as log:
            log.record(fv.Verification(user_id=7, group_id=GROUP_ID, channel_id=CHANNEL_ID,
                                       status=fv.Status.SUCCESS))
            log.record(fv.Verification(user_id=8, group_id=GROUP_ID, channel_id=CHANNEL_ID,
                                       status=fv.Status.FAILED))

        # The dashboard's totals: a fixed number of reads, whatever the event volume.
        stats = await store.stats.get()
        print("verifications:", stats.total_verifications,
              f"success rate: {stats.success_rate:.0f}%")


if __name__ == "__main__":
    with FirestoreEmulator() as emulator:  # finds the emulator and Java, picks a free port
        anyio.run(main, emulator.host)
