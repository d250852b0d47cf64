"""A guided tour of firestore-verify against a throwaway Firestore emulator.

Run it with ``python -m firestore_verify.demo`` (or ``make demo``). It starts the
official Cloud Firestore emulator on a free local port, protects a few groups
with their enforced channels, prints what is stored (groups with their channels,
channels with their linked groups, the dashboard totals), and stops the
emulator again. Nothing outside the emulator is touched.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import anyio

from firestore_verify.errors import FirestoreVerifyError
from firestore_verify.models import (
    ChannelInfo,
    EnforcedChannel,
    GroupInfo,
    OwnerInfo,
    ProtectedGroup,
)
from firestore_verify.store import Store, connect
from firestore_verify.testing.emulator import FirestoreEmulator

__all__ = ["main", "run", "show"]

DEMO_PROJECT = "demo-firestore-verify"
"""The demo's project id; the ``demo-`` prefix marks it as emulator-only."""

_NEWS = ChannelInfo(id=-1001000000001, title="Crypto News", username="crypto_news")
_DEALS = ChannelInfo(id=-1001000000002, title="Daily Deals",
                     invite_link="https://t.me/+dailydeals")
_DEVS = ChannelInfo(id=-1001000000003, title="Dev Updates", username="dev_updates")

_SETUP: tuple[tuple[GroupInfo, OwnerInfo, tuple[ChannelInfo, ...]], ...] = (
    (GroupInfo(id=-1002000000001, title="Crypto Chat", member_count=1250),
     OwnerInfo(id=42, username="alice"), (_NEWS, _DEALS)),
    (GroupInfo(id=-1002000000002, title="Bargain Hunters", member_count=310),
     OwnerInfo(id=42, username="alice"), (_DEALS,)),
    (GroupInfo(id=-1002000000003, title="Python Devs", member_count=87),
     OwnerInfo(id=7, username="bob_dev"), (_DEVS, _NEWS)),
)
"""(group, owner, channels) to protect."""


def _print(text: str = "") -> None:
    print(text, flush=True)


async def _protect_all(store: Store) -> None:
    for group, owner, channels in _SETUP:
        result = await store.groups.protect(group=group, owner=owner, channels=channels)
        state = "created" if result.created else "updated"
        new = f", {len(result.new_channels)} new channel(s)" if result.new_channels else ""
        _print(f"  protect {group.title!r}: {state}{new}")
    # Protecting again is idempotent: no counter moves, nothing is rewritten.
    group, owner, channels = _SETUP[0]
    again = await store.groups.protect(group=group, owner=owner, channels=channels)
    _print(f"  protect {group.title!r} again: created={again.created}, "
           f"new channels={again.new_channels}")
    # A channel renamed in Telegram: the new title reaches every group that enforces it.
    await store.channels.update(_NEWS.id, title="Crypto News (official)")
    _print(f"  rename channel {_NEWS.id} -> 'Crypto News (official)'")


def _format_group(group: ProtectedGroup, owners: dict[str, str]) -> list[str]:
    state = "protected" if group.enabled else "disabled"
    owner = owners.get(str(group.owner_id), str(group.owner_id))
    lines = [f"  {group.title}  [{group.id}]  {state}, owner {owner}, "
             f"{group.member_count if group.member_count is not None else '?'} members"]
    for ref in group.enforced_channels:
        lines.append(f"      - {ref.title}  [{ref.channel_id}]  {ref.join_url() or '(no link)'}")
    if not group.enforced_channels:
        lines.append("      (no enforced channels)")
    return lines


def _format_channel(channel: EnforcedChannel, titles: dict[int, str]) -> list[str]:
    lines = [f"  {channel.title}  [{channel.id}]"]
    for gid in channel.linked_groups:
        lines.append(f"      <- {titles.get(gid, '?')}  [{gid}]")
    if not channel.linked_groups:
        lines.append("      (not linked to any group)")
    return lines


async def show(store: Store) -> None:
    """Print the stored groups (with channels), channels (with groups) and totals."""
    groups = [g async for g in store.groups.iterate(order_by="title")]
    channels = [c async for c in store.channels.iterate(order_by="title")]
    owners = {o.document_id(): f"@{o.username}" if o.username else str(o.id)
              async for o in store.owners.iterate()}
    titles = {g.id: g.title for g in groups}

    _print(f"\nprotected_groups ({len(groups)}):")
    for group in groups:
        for line in _format_group(group, owners):
            _print(line)
    _print(f"\nenforced_channels ({len(channels)}):")
    for channel in channels:
        for line in _format_channel(channel, titles):
            _print(line)
    stats = await store.stats.get()
    _print("\n_metadata/stats:")
    _print(f"  total_groups={stats.total_groups}  total_channels={stats.total_channels}  "
           f"total_verifications={stats.total_verifications}  "
           f"success_rate={stats.success_rate:.1f}%")


async def run(host: str, project: str = DEMO_PROJECT) -> None:
    """Run the tour against the emulator at ``host`` (``HOST:PORT``)."""
    async with await connect(project=project, emulator_host=host) as store:
        _print(f"connected: {store!r}\n")
        await _protect_all(store)
        await show(store)
        await store.groups.unprotect(_SETUP[1][0].id)
        _print(f"\nunprotect {_SETUP[1][0].title!r}: total_groups is now "
               f"{(await store.stats.get()).total_groups}")


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, run the tour, stop the emulator; return the exit status."""
    del argv  # no options yet
    _print("starting the Cloud Firestore emulator...")
    try:
        with FirestoreEmulator() as emulator:
            _print(f"emulator listening on {emulator.host} (pid {emulator.pid})")
            anyio.run(run, emulator.host)
    except FirestoreVerifyError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    _print("\nemulator stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
