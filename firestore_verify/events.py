"""Verification events: the exactly-once batch writer under the logger.

`EventWriter` commits events with their counter increments and rollups
in one atomic batch. Event documents are created with create-only
preconditions and user documents with ``update_time`` preconditions, so a batch
that conflicts or replays fails whole; the writer then looks up which events
already landed, drops them (they were counted when they landed) and retries
the rest. Counters therefore equal the events, whatever the retries.

`VerificationLogger` (`logger`)
buffers ``record()`` calls and feeds the writer, keeping each hot document
(counter shard, rollup) under a per-process write rate; see the "Write rates"
page of the docs for the arithmetic. The repository that reads events and
hands out loggers is `firestore_verify.repositories.verifications`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from firestore_verify._encode import create_write, update_write
from firestore_verify.calls import is_transient
from firestore_verify.counters import (
    SHARD_COUNT_FIELD,
    announce_shards,
    increments,
    shard_ref,
    stats_ref,
)
from firestore_verify.errors import ConflictError, InvalidInputError
from firestore_verify.models import Verification
from firestore_verify.rollups import (
    DAILY,
    GROUP_DAILY,
    USERS,
    UserState,
    UserStateCache,
    plan_batch,
    rollup_id,
)

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["CONFLICT", "MAX_WRITES_PER_COMMIT", "EventWriter", "WriteOutcome"]

log = logging.getLogger("firestore_verify.events")

def _resend_predicate(exc: Exception) -> bool:
    # A plain batch commit aborted by contention may be sent again as it is.
    return is_transient(exc) or isinstance(exc, gexc.Aborted)


CONFLICT = (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.Conflict)
"""Errors that mean "some precondition failed": a replay or a concurrent writer."""
MAX_WRITES_PER_COMMIT = 500
"""Firestore accepts at most 500 writes in one commit."""


@dataclass(frozen=True)
class WriteOutcome:
    """What one `EventWriter.write()` call did."""

    written: int
    """Events this call wrote and counted."""
    already_stored: int
    """Events that were already stored (a replay, or a duplicate id): not counted again."""
    conflicts: int
    """Commits that failed on a precondition and were re-planned."""
    retries: int
    """Reads and commits retried after a transient error."""


class EventWriter:
    """Writes events, their counter increments and rollups in atomic batches, exactly once."""

    def __init__(
        self,
        store: Store,
        *,
        max_conflicts: int = 20,
        max_retry_seconds: float | None = None,
        user_cache_size: int = 100_000,
    ) -> None:
        self._store = store
        self._events = store.collection(Verification.collection)
        self._daily = store.collection(DAILY)
        self._group_daily = store.collection(GROUP_DAILY)
        self._users = store.collection(USERS)
        self._cache = UserStateCache(user_cache_size)
        self._announced_shards = 1
        self._max_conflicts = max_conflicts
        self._max_retry_seconds = max_retry_seconds

    async def announce_shards(self, count: int) -> None:
        """Make ``_metadata/stats.shards`` at least ``count`` before writing to those shards.

        A logger calls it on start, so its commits need not touch
        ``_metadata/stats`` (a hot document) to announce shards. It writes only
        when the stored count is lower: once for the project, not once per
        process start, so starting a process does not write a document the
        others' loggers are writing.
        """
        if count <= self._announced_shards:
            return
        ref = stats_ref(self._store)
        options = self._store.calls.options
        snapshot = await ref.get(**options)
        if not snapshot.exists:
            # Processes starting together on a new project: one creates it, once.
            with contextlib.suppress(gexc.AlreadyExists):
                await ref.create({SHARD_COUNT_FIELD: count}, **options)
                self._announced_shards = count
                return
            snapshot = await ref.get(**options)
        if int((snapshot.to_dict() or {}).get(SHARD_COUNT_FIELD) or 1) < count:
            await ref.set(announce_shards(count), merge=True, **options)
        self._announced_shards = count

    @staticmethod
    def writes_needed(events: Sequence[Verification]) -> int:
        """An upper bound of the writes one batch of ``events`` makes."""
        days = {e.occurred_at.date() for e in events}
        group_days = {(e.group_id, e.occurred_at.date()) for e in events}
        users = {e.user_id for e in events}
        return len(events) + len(days) + len(group_days) + len(users) + 2

    async def _get_all(self, refs: list[Any],
                       on_error: Callable[[Exception], None] | None) -> list[Any]:
        calls = self._store.calls
        return await calls.collect(lambda: self._store.client.get_all(refs, **calls.attempt),
                                   on_error=on_error)

    async def _user_states(self, events: Sequence[Verification], *,
                           on_error: Callable[[Exception], None] | None = None,
                           ) -> dict[int, UserState]:
        states: dict[int, UserState] = {}
        missing: list[int] = []
        for user_id in {e.user_id for e in events}:
            cached = self._cache.get(user_id)
            if cached is None:
                missing.append(user_id)
            else:
                states[user_id] = cached
        if missing:
            refs = [self._users.document(str(u)) for u in missing]
            for snap in await self._get_all(refs, on_error):
                state = UserState.from_document(
                    snap.to_dict() if snap.exists else None,
                    snap.update_time if snap.exists else None,
                )
                states[int(snap.id)] = state
        return states

    async def _stored_ids(self, events: Sequence[Verification], *,
                          on_error: Callable[[Exception], None] | None = None) -> set[str]:
        refs = [self._events.document(e.id) for e in events]
        return {s.id for s in await self._get_all(refs, on_error) if s.exists}

    async def _commit(self, batch: Any, pace: Callable[[], Awaitable[None]] | None,
                      retrying: Callable[[Exception], None]) -> Any:
        """Commit ``batch`` under the store's retry policy, pacing every attempt.

        The client's own retry is off (``retry=None``): a resend it made would
        skip ``pace`` and break the write-rate discipline. A resend of a commit
        that did land fails its preconditions, which the caller re-plans.
        """
        calls = self._store.calls

        async def attempt() -> Any:
            if pace is not None:
                await pace()
            return await batch.commit(**calls.attempt)

        retry = calls.retry(timeout=self._max_retry_seconds, on_error=retrying)
        retry = retry.with_predicate(_resend_predicate)
        result = await retry(attempt)()
        return result

    async def write(
        self,
        events: Sequence[Verification],
        *,
        shard: int = 0,
        pace: Callable[[], Awaitable[None]] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> WriteOutcome:
        """Write ``events`` with their counters (shard ``shard``) and rollups, exactly once.

        Events already stored (same id) are neither written nor counted again.
        ``pace`` is awaited right before every commit attempt (retries included):
        the logger uses it to keep each hot document under its write rate.
        ``on_error`` is called with each transient error before the retry.

        Raises:
            InvalidInputError: when the events would not fit in one commit.
            ConflictError: when concurrent writers kept winning.
            UnavailableError: when Firestore did not answer within the store's timeout.

        """
        pending = list(events)
        if len({e.id for e in pending}) != len(pending):
            unique: dict[str, Verification] = {}
            for event in pending:
                unique.setdefault(event.id, event)
            pending = list(unique.values())
        if self.writes_needed(pending) > MAX_WRITES_PER_COMMIT:
            raise InvalidInputError(
                f"{len(pending)} events need more than {MAX_WRITES_PER_COMMIT} writes; "
                "write them in smaller groups (the logger splits batches itself)."
            )
        total = len(pending)
        conflicts = retries = 0

        def retrying(exc: Exception) -> None:
            nonlocal retries
            retries += 1
            log.warning("transient Firestore error, committing again: %s", exc)
            if on_error is not None:
                on_error(exc)

        while pending:
            states = await self._user_states(pending, on_error=retrying)
            plan = plan_batch(pending, states)
            if plan.write_count + 2 > MAX_WRITES_PER_COMMIT:
                # Backfilled events can add rollup corrections: split and write each half.
                half = len(pending) // 2
                first = await self.write(pending[:half], shard=shard, pace=pace,
                                         on_error=on_error)
                second = await self.write(pending[half:], shard=shard, pace=pace,
                                          on_error=on_error)
                return WriteOutcome(
                    written=first.written + second.written,
                    already_stored=total - first.written - second.written,
                    conflicts=conflicts + first.conflicts + second.conflicts,
                    retries=retries + first.retries + second.retries,
                )
            batch = self._store.client.batch()
            # Events and user documents are most of the writes: encode them directly.
            batch._add_write_pbs([
                create_write(self._events.document(e.id)._document_path, e.to_document())
                for e in plan.events
            ])
            counter_fields = increments(plan.counters)
            batch.set(shard_ref(self._store, shard), counter_fields, merge=True)
            announce = shard >= self._announced_shards
            if announce:
                # Readers learn of a new shard in the same commit that first fills it.
                batch.set(stats_ref(self._store), announce_shards(shard + 1), merge=True)
            for base, doc in plan.daily.items():
                batch.set(self._daily.document(rollup_id(base, shard)), doc, merge=True)
            for base, doc in plan.group_daily.items():
                batch.set(self._group_daily.document(rollup_id(base, shard)), doc, merge=True)
            user_ids = list(plan.users)
            user_writes = []
            for user_id in user_ids:
                state = plan.users[user_id]
                path = self._users.document(str(user_id))._document_path
                if state.exists:
                    user_writes.append(update_write(path, state.to_document(), state.update_time))
                else:
                    user_writes.append(create_write(path, state.to_document()))
            batch._add_write_pbs(user_writes)
            try:
                results = await self._commit(batch, pace, retrying)
            except CONFLICT as exc:
                self._cache.drop(list(states))
                stored = await self._stored_ids(pending, on_error=retrying)
                if not stored:
                    # A concurrent writer moved a user's state. Events found stored
                    # instead make this a replay: reported as already_stored only.
                    conflicts += 1
                pending = [e for e in pending if e.id not in stored]
                if pending and conflicts > self._max_conflicts:
                    raise ConflictError(
                        f"{len(pending)} events kept conflicting with concurrent writers "
                        f"({exc.message}); they were not written, retry them."
                    ) from exc
                continue
            if announce:
                self._announced_shards = max(self._announced_shards, shard + 1)
            # Writes are in order: events, shard, (announce), daily, group daily, users.
            first_user = (len(plan.events) + 1 + announce + len(plan.daily)
                          + len(plan.group_daily))
            for offset, user_id in enumerate(user_ids):
                state = plan.users[user_id]
                state.exists = True
                state.update_time = results[first_user + offset].update_time
                self._cache.put(user_id, state)
            for user_id, state in states.items():
                if user_id not in plan.users:
                    self._cache.put(user_id, state)
            written = len(plan.events)
            return WriteOutcome(written=written, already_stored=total - written,
                                conflicts=conflicts, retries=retries)
        return WriteOutcome(written=0, already_stored=total, conflicts=conflicts,
                            retries=retries)
