"""Live configuration: the protected groups and their channels, kept current by a watch.

:meth:`GroupRegistry.follow` listens to ``store.groups.watch(enabled=True)`` (a
Firestore listener, not polling), so a channel linked or a warning changed from
the API or the dashboard applies to the next message, without a restart.
"""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskStatus

import firestore_verify as fv

__all__ = ["GroupRegistry"]

log = logging.getLogger("fsv_bot.registry")


class GroupRegistry:
    """In-memory map of enabled protected groups, and of channel -> groups enforcing it."""

    def __init__(self) -> None:
        self._groups: dict[int, fv.ProtectedGroup] = {}
        self._by_channel: dict[int, list[int]] = {}
        #: Set once the first snapshot arrived.
        self.ready = anyio.Event()
        #: Snapshots applied so far.
        self.snapshots = 0
        #: Whether the watch is currently connected.
        self.live = False

    def get(self, group_id: int) -> fv.ProtectedGroup | None:
        """The enabled protected group ``group_id``, or ``None``."""
        return self._groups.get(group_id)

    def groups_for_channel(self, channel_id: int) -> list[fv.ProtectedGroup]:
        """The enabled groups that enforce ``channel_id``."""
        return [self._groups[g] for g in self._by_channel.get(channel_id, ())]

    def __len__(self) -> int:
        return len(self._groups)

    def replace(self, groups: list[fv.ProtectedGroup]) -> None:
        """Take a whole snapshot as the new state."""
        self._groups = {g.id: g for g in groups if g.enabled}
        self._reindex()
        self.snapshots += 1
        self.ready.set()

    def put(self, group: fv.ProtectedGroup) -> None:
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
        store: fv.Store,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Apply every snapshot of the enabled groups until cancelled; reconnect on errors.

        ``task_status.started()`` is called once the first snapshot is applied.
        """
        started = False
        delay = 0.5
        while True:
            stream = store.groups.watch(enabled=True)
            try:
                await stream.start()
                self.live = True
                async for groups in stream:
                    self.replace(groups)
                    delay = 0.5
                    if not started:
                        started = True
                        task_status.started()
            except fv.FirestoreVerifyError as exc:
                # e.g. a document another client wrote that does not validate.
                log.error("group watch failed, restarting in %.1fs: %s", delay, exc)
            except Exception as exc:  # the listener died: start a new one
                log.error("group watch error, restarting in %.1fs: %r", delay, exc)
            finally:
                self.live = False
                # Unsubscribe even when cancelled (shutdown), before the store closes:
                # a listener left running fails in its thread when the channel goes.
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)
    # --8<-- [end:follow]
