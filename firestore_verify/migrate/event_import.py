"""Legacy verification events into Firestore: exactly once, several commits in flight.

Each commit holds events with their counter increments, rollups and user
documents (a `plan_batch()` plan, encoded by
`.event_writes`), so it lands whole or not at all, as with
`EventWriter`. What differs is the pipeline:

* **Lanes.** Events are dealt to ``concurrency`` lanes by user id. A lane
  commits its events one commit at a time, while the other lanes commit
  theirs: two commits in flight never write the same user document, so they
  cannot fail each other's preconditions, and every user's state is planned
  from the commit before it (the lane caches the states it wrote, with their
  ``update_time``). Counters and rollups are increments without
  preconditions: concurrent commits add up.
* **Windows.** A lane gathers ``WINDOW_BATCHES`` batches' worth of events and
  cuts them into commits group by group (`pack()`): a commit then writes
  the rollups of a few groups instead of nearly all of them, so more of its
  500 writes are events. Events of one user may so land out of time order;
  the planner handles any order (a user's first day moves back if needed).
* **Bounded.** A lane holds one window being filled, one waiting and one being
  committed; the source is read (in a worker thread, a chunk ahead) only as
  fast as the lanes take the events, so memory does not depend on the length
  of the log.
* **Fewer reads.** Users are read once, when first met (then cached; a run
  into a project without any user document reads none at all). Event ids are
  looked up before writing only while they turn out to be stored (a re-run, or
  the resumed part of an interrupted run), by keys only; a run into a project
  without legacy events looks up none.

Whatever a lookup skipped, create-only preconditions still decide: a commit
holding an event already stored (or a user document someone else changed)
fails whole; the lane then looks up which of its events are stored, drops
them (they were counted when they landed), reads its users again and commits
the rest. Counters therefore equal the events, whatever the retries.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from google.api_core import exceptions as gexc
from google.api_core.datetime_helpers import DatetimeWithNanoseconds
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.types.firestore import (
    BatchGetDocumentsRequest,
    BatchGetDocumentsResponse,
    CommitRequest,
    CommitResponse,
)

from firestore_verify.calls import is_transient
from firestore_verify.errors import ConflictError, InvalidInputError
from firestore_verify.events import CONFLICT, MAX_WRITES_PER_COMMIT
from firestore_verify.migrate.event_writes import BatchEncoder
from firestore_verify.migrate.mapping import EVENT_ID_PREFIX
from firestore_verify.migrate.report import TableResult
from firestore_verify.migrate.sources import batched
from firestore_verify.models import Verification
from firestore_verify.rollups import USERS, UserState, UserStateCache, plan_batch

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["DEFAULT_CONCURRENCY", "MAX_CONCURRENCY", "WINDOW_BATCHES", "EventImporter",
           "check_concurrency", "pack"]

log = logging.getLogger("firestore_verify.migrate")

#: Commits in flight by default: enough to keep Firestore (or the emulator) busy
#: while this process plans and encodes the next ones.
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
#: A lane cuts its events into commits this many batches' worth at a time.
WINDOW_BATCHES = 2
#: Writes a batch may need besides its events, days, group days and users: the
#: counter shard, and room for what the writer's bound counts (``writes_needed``).
_FIXED_WRITES = 2


def check_concurrency(concurrency: int) -> None:
    """Raise `InvalidInputError` unless ``1 <= concurrency <= 32``."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInputError(
            f"concurrency (commits in flight) must be between 1 and {MAX_CONCURRENCY}, "
            f"not {concurrency}."
        )


def _resend(exc: Exception) -> bool:
    # A plain batch commit aborted by contention may be sent again as it is.
    return is_transient(exc) or isinstance(exc, gexc.Aborted)


_BatchGetRequest: Any = BatchGetDocumentsRequest.pb()


def _update_time(result: Any) -> datetime:
    """The ``update_time`` of a raw write result, nanoseconds kept (preconditions need them)."""
    moment: datetime = DatetimeWithNanoseconds.from_timestamp_pb(  # type: ignore[no-untyped-call]
        result.update_time)
    return moment


class _Batch:
    """The events of one commit, and the bound of the writes they need."""

    def __init__(self) -> None:
        self.events: list[Verification] = []
        self._users: set[int] = set()
        self._days: set[Any] = set()
        self._group_days: set[tuple[int, Any]] = set()

    def fits(self, event: Verification, batch_size: int) -> bool:
        """Whether ``event`` may join: at most ``batch_size`` events and 500 writes."""
        if len(self.events) >= batch_size:
            return False
        day = event.occurred_at.date()
        # EventWriter.writes_needed, kept up to date event by event.
        writes = (len(self.events) + 1
                  + len(self._users) + (event.user_id not in self._users)
                  + len(self._days) + (day not in self._days)
                  + len(self._group_days) + ((event.group_id, day) not in self._group_days))
        return writes + _FIXED_WRITES <= MAX_WRITES_PER_COMMIT

    def add(self, event: Verification) -> None:
        day = event.occurred_at.date()
        self.events.append(event)
        self._users.add(event.user_id)
        self._days.add(day)
        self._group_days.add((event.group_id, day))


def pack(window: Sequence[Verification], batch_size: int) -> list[list[Verification]]:
    """Cut a window of events into commits, taking the events group by group.

    A commit writes one rollup per group and day it touches, and events in time
    order touch nearly every group in each commit; group by group, a commit
    touches a few. Each group's events stay in their order.
    """
    by_group: dict[int, list[Verification]] = {}
    for event in window:
        by_group.setdefault(event.group_id, []).append(event)
    batches: list[list[Verification]] = []
    batch = _Batch()
    for group_id in sorted(by_group):
        for event in by_group[group_id]:
            if batch.events and not batch.fits(event, batch_size):
                batches.append(batch.events)
                batch = _Batch()
            batch.add(event)
    if batch.events:
        batches.append(batch.events)
    return batches


class _Lane:
    """The window of events being filled for one lane, and the stream to its committer."""

    def __init__(self, send: MemoryObjectSendStream[list[list[Verification]]], *,
                 window: int, batch_size: int, result: TableResult) -> None:
        self._send = send
        self._size = window
        self._batch_size = batch_size
        self._result = result
        self._window: list[Verification] = []
        self._ids: set[str] = set()

    async def add(self, event: Verification) -> None:
        if event.id in self._ids:
            self._result.unchanged += 1  # a duplicate id: written once, as write_many does
            return
        self._window.append(event)
        self._ids.add(event.id)
        if len(self._window) >= self._size:
            await self.flush()

    async def flush(self) -> None:
        if self._window:
            await self._send.send(pack(self._window, self._batch_size))
            self._window, self._ids = [], set()

    async def close(self) -> None:
        await self.flush()
        await self._send.aclose()


class EventImporter:
    """Writes verification events exactly once, ``concurrency`` commits in flight.

    Counts into ``result``: ``created`` for events written (and counted),
    ``unchanged`` for events found stored. With ``dry_run`` every event id is
    looked up and nothing is written: ``created`` is what would be.
    """

    def __init__(self, store: Store, result: TableResult, *,
                 concurrency: int = DEFAULT_CONCURRENCY, batch_size: int = 500,
                 dry_run: bool = False, max_conflicts: int = 20,
                 max_retry_seconds: float | None = None, user_cache_size: int = 100_000) -> None:
        check_concurrency(concurrency)
        self._store = store
        self._result = result
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._dry_run = dry_run
        self._max_conflicts = max_conflicts
        self._max_retry_seconds = max_retry_seconds
        self._events = store.collection(Verification.collection)
        self._event_folder = str(self._events.document("x")._document_path).rsplit("/", 1)[0]
        self._users = store.collection(USERS)
        self._encoder = BatchEncoder(store)
        self._cache = UserStateCache(user_cache_size)
        #: Whether users not in the cache may be taken as never stored (no user document
        #: existed when the run began, and no commit has conflicted since).
        self._new_users = False
        #: Events a lane gathers before cutting them into commits.
        self._window_size = WINDOW_BATCHES * batch_size
        #: Events a run holds between the source and Firestore (per lane: a window being
        #: filled, one waiting, one being committed; chunks being read, waiting and dealt).
        #: After this many consecutive events found absent, none further can have landed
        #: in an interrupted run of the same concurrency and batch size.
        self._held = concurrency * 3 * self._window_size + 3 * batch_size
        self._error: BaseException | None = None

    async def run(self, events: Iterable[Verification]) -> None:
        """Write ``events`` (in source order); return when every one is stored or skipped.

        ``events`` is iterated in a worker thread (one thread at a time): what it
        reads from must allow that (`.sqlite` and `.postgres` sources do).

        Raises:
            ConflictError: when concurrent writers kept winning for one batch.
            UnavailableError: when Firestore did not answer within the store's timeout.
        """
        probe = self._dry_run or await self._any_legacy_event()
        self._new_users = not self._dry_run and not await self._exists(self._users.limit(1))
        lanes: list[_Lane] = []
        async with anyio.create_task_group() as group:
            for _ in range(self._concurrency):
                # One window waits while the one before is committed: the dealer rarely waits.
                send, receive = anyio.create_memory_object_stream[list[list[Verification]]](1)
                lanes.append(_Lane(send, window=self._window_size, batch_size=self._batch_size,
                                   result=self._result))
                group.start_soon(self._guard, group.cancel_scope, self._commit_lane, receive)
            read, chunks = anyio.create_memory_object_stream[list[Verification]](1)
            group.start_soon(self._guard, group.cancel_scope, self._read, events, read)
            group.start_soon(self._guard, group.cancel_scope, self._deal, chunks, lanes, probe)
        if self._error is not None:
            raise self._error

    async def _guard(self, scope: anyio.CancelScope, work: Callable[..., Awaitable[None]],
                     *args: Any) -> None:
        """Await ``work(*args)``; on an error keep the first one and stop the others.

        The error is raised as it is once the task group is done, rather than
        wrapped in an exception group.
        """
        try:
            await work(*args)
        except Exception as exc:
            if self._error is None:
                self._error = exc
            scope.cancel()

    async def _exists(self, query: Any) -> bool:
        async for _ in query.stream(**self._store.calls.options):
            return True
        return False

    async def _any_legacy_event(self) -> bool:
        """Whether any event with a legacy id is stored (keys only, at most one read)."""
        first = self._events.document(EVENT_ID_PREFIX)
        after = self._events.document(EVENT_ID_PREFIX[:-1] + chr(ord(EVENT_ID_PREFIX[-1]) + 1))
        query = (self._events.where(filter=FieldFilter("__name__", ">=", first))
                 .where(filter=FieldFilter("__name__", "<", after)).select([]).limit(1))
        return await self._exists(query)

    async def _stored(self, events: Sequence[Verification]) -> set[str]:
        """The ids of ``events`` already stored, by keys only (an empty field mask).

        Asked of the client's API directly: ``get_all`` would build a snapshot per
        document, several times the CPU of the lookup itself on a re-run.
        """
        client = self._store.client
        request = _BatchGetRequest(database=client._database_string,
                                   documents=[f"{self._event_folder}/{e.id}" for e in events])
        request.mask.SetInParent()
        calls = self._store.calls

        async def lookup() -> AsyncIterator[Any]:
            responses = await client._firestore_api.batch_get_documents(
                request=BatchGetDocumentsRequest.wrap(request), metadata=client._rpc_metadata,
                **calls.attempt)
            async for response in responses:
                yield response

        stored: set[str] = set()
        for response in await calls.collect(lookup):
            raw = BatchGetDocumentsResponse.pb(response)
            if raw.WhichOneof("result") == "found":
                stored.add(raw.found.name.rsplit("/", 1)[1])
        return stored

    def _lane_of(self, user_id: int) -> int:
        # Fibonacci hashing: consecutive ids spread over the lanes.
        return ((user_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) * self._concurrency >> 64

    async def _read(self, events: Iterable[Verification],
                    chunks: MemoryObjectSendStream[list[Verification]]) -> None:
        """Pull ``events`` in chunks, in a worker thread.

        The next chunk is read (and validated) while the event loop encodes and
        commits, and a wait for the source (a PostgreSQL round trip) no longer
        holds up the commits in flight.
        """
        iterator = batched(events, self._batch_size)
        async with chunks:
            while (chunk := await anyio.to_thread.run_sync(next, iterator, None)) is not None:
                await chunks.send(chunk)

    async def _deal(self, chunks: MemoryObjectReceiveStream[list[Verification]],
                    lanes: list[_Lane], probe: bool) -> None:
        """Skip what is stored (while lookups find some), deal the rest to the lanes."""
        absent = 0
        async for chunk in chunks:
            fresh = chunk
            if probe:
                stored = await self._stored(chunk)
                fresh = [e for e in chunk if e.id not in stored]
                self._result.unchanged += len(chunk) - len(fresh)
                absent = 0 if stored else absent + len(chunk)
                probe = self._dry_run or absent < self._held
            if self._dry_run:
                self._result.created += len(fresh)
                continue
            for event in fresh:
                await lanes[self._lane_of(event.user_id)].add(event)
        for lane in lanes:
            await lane.close()

    async def _commit_lane(
        self, windows: MemoryObjectReceiveStream[list[list[Verification]]]
    ) -> None:
        async with windows:
            async for batches in windows:
                for batch in batches:
                    await self._write(batch)

    async def _states(self, user_ids: Iterable[int]) -> dict[int, UserState]:
        states: dict[int, UserState] = {}
        missing: list[int] = []
        for user_id in user_ids:
            cached = self._cache.get(user_id)
            if cached is not None:
                states[user_id] = cached
            elif self._new_users:
                states[user_id] = UserState()
            else:
                missing.append(user_id)
        if missing:
            refs = [self._users.document(str(u)) for u in missing]
            calls = self._store.calls
            for snap in await calls.collect(
                    lambda: self._store.client.get_all(refs, **calls.attempt)):
                states[int(snap.id)] = UserState.from_document(
                    snap.to_dict() if snap.exists else None,
                    snap.update_time if snap.exists else None)
        return states

    async def _commit(self, request: Any) -> list[Any]:
        """Send the raw ``CommitRequest`` under the store's retry policy; its raw write results.

        The request goes to the client's API as it is (``batch.commit()`` would
        copy every write through proto-plus first). A resend of a commit that
        did land fails its preconditions: the caller then finds its events stored.
        """
        client = self._store.client
        api = client._firestore_api
        wrapped = CommitRequest.wrap(request)
        calls = self._store.calls

        async def attempt() -> Any:
            return await api.commit(request=wrapped, metadata=client._rpc_metadata,
                                    **calls.attempt)

        def retrying(exc: Exception) -> None:
            log.warning("transient Firestore error, committing again: %s", exc)

        retry = calls.retry(timeout=self._max_retry_seconds, on_error=retrying)
        response = await retry.with_predicate(_resend)(attempt)()
        return list(CommitResponse.pb(response).write_results)

    async def _write(self, events: list[Verification]) -> None:
        """Commit ``events`` (one lane's batch) with their counters, rollups and users."""
        await self._commit_events(events)

    async def _commit_events(self, events: list[Verification]) -> None:
        pending = events
        conflicts = 0
        while pending:
            states = await self._states({e.user_id for e in pending})
            plan = plan_batch(pending, states)
            if plan.write_count + _FIXED_WRITES > MAX_WRITES_PER_COMMIT:
                # Backfilled events can add rollup corrections: write each half.
                half = len(pending) // 2
                await self._commit_events(pending[:half])
                await self._commit_events(pending[half:])
                return
            encoded = self._encoder.encode(plan, states)
            try:
                results = await self._commit(encoded.request)
            except CONFLICT as exc:
                self._cache.drop(states)
                self._new_users = False
                stored = await self._stored(pending)
                if not stored:
                    # A concurrent writer moved a user's state; stored events instead make
                    # this a replay, and the ones found stored were counted when they landed.
                    conflicts += 1
                self._result.unchanged += len(stored)
                pending = [e for e in pending if e.id not in stored]
                if pending and conflicts > self._max_conflicts:
                    raise ConflictError(
                        f"{len(pending)} events kept conflicting with concurrent writers "
                        f"({exc.message}); they were not written, migrate again."
                    ) from exc
                continue
            for offset, user_id in enumerate(encoded.users):
                state = plan.users[user_id]
                state.exists = True
                state.update_time = _update_time(results[encoded.first_user + offset])
                self._cache.put(user_id, state)
            for user_id, state in states.items():
                if user_id not in plan.users:
                    self._cache.put(user_id, state)
            self._result.created += len(plan.events)
            return
