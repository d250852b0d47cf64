"""A live, in-memory index of the protected groups, kept current by a watch.

Bots consult it on every message: which channels does this group enforce,
which groups does this channel protect. `GroupIndex.follow()` listens to
``store.groups.watch(enabled=True)`` (a Firestore listener, not polling), so a
channel linked or a setting changed from an API or a dashboard applies to the
next message without a restart; a failed listener is restarted with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskStatus

from firestore_verify.models import ProtectedGroup

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["GroupIndex"]

log = logging.getLogger("firestore_verify.group_index")


class GroupIndex:
    """Enabled protected groups by id, and channel id -> the groups enforcing it."""

    def __init__(self) -> None:
        self._groups: dict[int, ProtectedGroup] = {}
        self._by_channel: dict[int, list[int]] = {}
        self.ready = anyio.Event()
        """Set once the first snapshot arrived."""
        self.snapshots = 0
        """Snapshots applied so far."""
        self.live = False
        """Whether the watch is connected right now."""

    def get(self, group_id: int) -> ProtectedGroup | None:
        """The enabled protected group ``group_id``, or ``None``."""
        return self._groups.get(group_id)

    def groups_for_channel(self, channel_id: int) -> list[ProtectedGroup]:
        """The enabled groups that enforce ``channel_id``."""
        return [self._groups[g] for g in self._by_channel.get(channel_id, ())]

    def __len__(self) -> int:
        return len(self._groups)

    def replace(self, groups: Iterable[ProtectedGroup]) -> None:
        """Take a whole snapshot as the new state."""
        self._groups = {g.id: g for g in groups if g.enabled}
        self._reindex()
        self.snapshots += 1
        self.ready.set()

    def put(self, group: ProtectedGroup) -> None:
        """Apply a change this process made itself, before its snapshot arrives."""
        if group.enabled:
            self._groups[group.id] = group
        else:
            self._groups.pop(group.id, None)
        self._reindex()

    def _reindex(self) -> None:
        by_channel: dict[int, list[int]] = {}
        for group in self._groups.values():
            for channel_id in group.channel_ids:
                by_channel.setdefault(channel_id, []).append(group.id)
        self._by_channel = by_channel

    # --8<-- [start:follow]
    async def follow(
        self,
        store: Store,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Apply every snapshot of the enabled groups until cancelled; restart on errors.

        Start it in a task group (``await tg.start(index.follow, store)`` returns
        once the first snapshot is applied).
        """
        started = False
        waits = store.calls.backoff(maximum=30.0)
        while True:
            stream = store.groups.watch(enabled=True)
            try:
                await stream.start()
                self.live = True
                async for groups in stream:
                    self.replace(groups)
                    waits = store.calls.backoff(maximum=30.0)
                    if not started:
                        started = True
                        task_status.started()
            except Exception as exc:  # the listener died: start a new one
                log.error("group watch failed, restarting: %r", exc)
            finally:
                self.live = False
                await stream.aclose()
            await anyio.sleep(next(waits))
    # --8<-- [end:follow]
