"""`VerificationLogger`: bots call ``record()`` and never wait on Firestore.

Events go into a bounded buffer. A dispatcher commits them through the
:class:`~firestore_verify.events.EventWriter` as soon as a counter shard has
write budget left: at low load each event is committed at once (liveness);
under load events pile up while the budget refills, so batches grow instead of
commits multiplying (write discipline). Each shard ``k`` owns its hot documents
(counter shard ``k`` and the ``~k`` rollups), so a per-shard token bucket keeps
every hot document at or under ``max_writes_per_second`` for this process.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from pydantic import BaseModel, ConfigDict, Field

from firestore_verify.errors import FirestoreVerifyError, LoggerClosedError
from firestore_verify.events import MAX_WRITES_PER_COMMIT, EventWriter
from firestore_verify.models import Verification

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = [
    "BufferFullError",
    "FlushTimeoutError",
    "LoggerSettings",
    "LoggerStats",
    "VerificationLogger",
]

log = logging.getLogger("firestore_verify.logger")

#: A gap between arrivals this long means "no more events are coming right now".
_QUIET = 0.005


class BufferFullError(FirestoreVerifyError):
    """``record()`` found the buffer full: await ``put()`` to wait for room instead."""


class FlushTimeoutError(FirestoreVerifyError):
    """Closing the logger could not commit everything within ``close_timeout``.

    Nothing is lost: ``unwritten`` holds every event that was not committed,
    for the caller to keep (and write later with ``write_many``, which skips
    any that did land).
    """

    def __init__(self, unwritten: list[Verification], timeout: float) -> None:
        super().__init__(
            f"{len(unwritten)} events were not committed within {timeout:g}s of closing "
            "(is Firestore reachable?); they are in .unwritten: store them and retry."
        )
        self.unwritten = unwritten


class LoggerSettings(BaseModel):
    """How a :class:`VerificationLogger` balances liveness against write rates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Counter (and rollup) shards this process spreads its commits over.
    shards: int = Field(default=1, ge=1, le=1000)
    #: Most writes per second this process makes to any one hot document.
    max_writes_per_second: float = Field(default=1.0, gt=0, le=100)
    #: Commits a shard may make at once after being idle (token bucket size).
    burst: int = Field(default=1, ge=1, le=100)
    #: Most events in one commit (Firestore allows 500 writes per commit).
    max_batch_events: int = Field(default=400, ge=1, le=490)
    #: Most events buffered or in flight; ``record()`` refuses beyond it.
    buffer_size: int = Field(default=10_000, ge=1)
    #: Longest an event waits for companions while events keep streaming in
    #: (a lone event goes as soon as arrivals pause for a few milliseconds).
    linger_seconds: float = Field(default=0.05, ge=0, le=1)
    #: Seconds closing may take to commit what is left (``None``: no limit).
    close_timeout: float | None = Field(default=60.0, gt=0)


class LoggerStats(BaseModel):
    """Counts of what a logger did, for metrics."""

    recorded: int = 0
    committed: int = 0
    commits: int = 0
    already_stored: int = 0
    conflicts: int = 0
    retries: int = 0
    failed_commits: int = 0
    #: Most writes any one hot document got from this logger within one second.
    peak_writes_per_second: int = 0


class _Bucket:
    """A token bucket: ``rate`` tokens per second, at most ``size`` saved."""

    def __init__(self, rate: float, size: int) -> None:
        self.rate = rate
        self.size = size
        self.tokens = float(size)
        self.stamp = anyio.current_time()
        self.recent: deque[float] = deque()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, now: float) -> float:
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> int:
        """Spend a token; return the writes made in the last second, this one included."""
        self._refill(now)
        self.tokens -= 1
        self.recent.append(now)
        while self.recent and self.recent[0] <= now - 1.0:
            self.recent.popleft()
        return len(self.recent)


class VerificationLogger:
    """Buffers verification events and commits them exactly once, in batches.

    Use it as an async context manager: entering starts the dispatcher,
    leaving flushes every accepted event before returning::

        async with store.verifications.logger() as log:
            log.record(fv.Verification(user_id=7, group_id=-100123, status=fv.Status.SUCCESS))
    """

    def __init__(self, store: Store, settings: LoggerSettings, *, writer: EventWriter) -> None:
        self._store = store
        self.settings = settings
        self._writer = writer
        self._buffer: deque[Verification] = deque()
        self._in_flight_users: set[int] = set()
        self._in_flight_events = 0
        self._busy_shards: set[int] = set()
        self._buckets: list[_Bucket] = []
        self._changed: anyio.Event | None = None
        self._closing = False
        self._closed = True
        self._task_group: TaskGroup | None = None
        self._in_flight: dict[int, list[Verification]] = {}
        self._rate_dirty = False
        self._oldest_arrival = 0.0
        self._last_arrival = 0.0
        #: What this logger has done so far.
        self.stats = LoggerStats()

    # -- recording --------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events accepted but not yet committed."""
        return len(self._buffer) + self._in_flight_events

    def _accept(self, event: Verification | Mapping[str, Any]) -> Verification:
        if self._closed or self._closing:
            raise LoggerClosedError(
                "this logger is closed; record events inside `async with store.verifications"
                ".logger() as log:`."
            )
        return Verification.parse(event)

    def record(self, event: Verification | Mapping[str, Any]) -> Verification:
        """Accept ``event`` for writing; returns at once, never waits on Firestore.

        Raises:
            InvalidInputError: the event can never be written.
            BufferFullError: the buffer is full (use ``await put()`` to wait).
            LoggerClosedError: the logger is not running.

        """
        parsed = self._accept(event)
        if self.pending >= self.settings.buffer_size:
            raise BufferFullError(
                f"{self.pending} events are waiting to be written (buffer_size="
                f"{self.settings.buffer_size}); await log.put(event) to wait for room, or "
                "raise buffer_size / shards."
            )
        self._push(parsed)
        return parsed

    async def put(self, event: Verification | Mapping[str, Any]) -> Verification:
        """Like :meth:`record`, but waits for room when the buffer is full (backpressure)."""
        parsed = self._accept(event)
        while self.pending >= self.settings.buffer_size:
            await self._wait_change()
            if self._closed:
                raise LoggerClosedError("the logger closed while waiting for room.")
        self._push(parsed)
        return parsed

    def _push(self, event: Verification) -> None:
        now = anyio.current_time()
        if not self._buffer:
            self._oldest_arrival = now
        self._last_arrival = now
        self._buffer.append(event)
        self.stats.recorded += 1
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
        self._changed = anyio.Event()

    async def _wait_change(self, limit: float | None = None) -> None:
        changed = self._changed
        assert changed is not None
        if limit is None:
            await changed.wait()
        else:
            with anyio.move_on_after(limit):
                await changed.wait()

    async def flush(self) -> None:
        """Wait until every event accepted so far is committed."""
        while self.pending:
            await self._wait_change(0.5)

    # -- dispatching ------------------------------------------------------------------
    def _free_shard(self, now: float) -> tuple[int | None, float]:
        """A shard that may commit now, else the time until one may."""
        best_wait = float("inf")
        # Random order: processes sharing the shards rarely pick the same one at once.
        order = random.sample(range(len(self._buckets)), len(self._buckets))
        for index in order:
            bucket = self._buckets[index]
            if index in self._busy_shards:
                continue
            wait = bucket.wait_time(now)
            if wait == 0.0:
                return index, 0.0
            best_wait = min(best_wait, wait)
        return None, best_wait

    def _take_batch(self) -> list[Verification]:
        batch: list[Verification] = []
        skipped: list[Verification] = []
        users: set[int] = set()
        days: set[Any] = set()
        group_days: set[Any] = set()
        while self._buffer and len(batch) < self.settings.max_batch_events:
            event = self._buffer[0]
            if event.user_id in self._in_flight_users:
                # Another commit is writing this user's state: keep order, go later.
                skipped.append(self._buffer.popleft())
                continue
            day = event.occurred_at.date()
            new_writes = (1 + (event.user_id not in users) + (day not in days)
                          + ((event.group_id, day) not in group_days))
            writes = len(batch) + len(users) + len(days) + len(group_days) + 2
            if writes + new_writes > MAX_WRITES_PER_COMMIT:
                break
            batch.append(self._buffer.popleft())
            users.add(event.user_id)
            days.add(day)
            group_days.add((event.group_id, day))
        self._buffer.extendleft(reversed(skipped))
        return batch

    async def _dispatch(self) -> None:
        assert self._task_group is not None
        while True:
            if not self._buffer:
                if self._closing and not self._in_flight_events:
                    return
                if not self._closing and self._rate_dirty and not self._busy_shards:
                    await self._refresh_rate()
                    continue
                await self._wait_change()
                continue
            now = anyio.current_time()
            shard, wait = self._free_shard(now)
            if shard is None:
                await self._wait_change(None if wait == float("inf") else wait)
                continue
            linger = self._linger(now)
            if linger > 0:
                await self._wait_change(linger)
                continue
            batch = self._take_batch()
            crumb = max(1, self.settings.max_batch_events // 2)
            if not batch or (len(batch) < crumb and len(self._buffer) >= crumb
                             and self._busy_shards):
                # What is left waits on users that in-flight commits are writing: a
                # token (a second of a shard's budget) is not spent on a crumb of it.
                self._buffer.extendleft(reversed(batch))
                await self._wait_change()
                continue
            self._oldest_arrival = now
            self._busy_shards.add(shard)
            self._in_flight_users.update(e.user_id for e in batch)
            self._in_flight_events += len(batch)
            self._in_flight[id(batch)] = batch
            self._task_group.start_soon(self._commit, shard, batch)

    def _linger(self, now: float) -> float:
        """How long to wait for more events before committing (0: commit now).

        Events streaming in (gaps under ``_QUIET`` seconds) are gathered for up
        to ``linger_seconds`` so that one token carries a full batch; a lone
        event waits only for the stream to go quiet.
        """
        if self._closing or len(self._buffer) >= self.settings.max_batch_events:
            return 0.0
        left = self.settings.linger_seconds - (now - self._oldest_arrival)
        quiet = _QUIET - (now - self._last_arrival)
        return max(0.0, min(left, quiet))

    async def _pace(self, shard: int) -> None:
        """Wait for shard ``shard``'s budget, then spend it: called before every commit."""
        bucket = self._buckets[shard]
        wait = bucket.wait_time(anyio.current_time())
        if wait > 0:
            await anyio.sleep(wait)
        recent = bucket.take(anyio.current_time())
        self.stats.peak_writes_per_second = max(self.stats.peak_writes_per_second, recent)

    async def _commit(self, shard: int, batch: list[Verification]) -> None:
        try:
            outcome = await self._writer.write(
                batch, shard=shard, pace=lambda: self._pace(shard))
        except Exception as exc:
            self.stats.failed_commits += 1
            log.error("commit of %d events failed, will retry: %s", len(batch), exc)
            self._buffer.extendleft(reversed(batch))
            await anyio.sleep(1.0)
        else:
            self.stats.commits += 1
            self.stats.committed += outcome.written
            self.stats.already_stored += outcome.already_stored
            self.stats.conflicts += outcome.conflicts
            self.stats.retries += outcome.retries
            self._rate_dirty = self._rate_dirty or outcome.written > 0
        finally:
            self._in_flight.pop(id(batch), None)
            self._busy_shards.discard(shard)
            self._in_flight_users.difference_update(e.user_id for e in batch)
            self._in_flight_events -= len(batch)
            self._notify()

    async def _refresh_rate(self) -> None:
        """When idle, rewrite ``success_rate`` on ``_metadata/stats`` for other clients."""
        self._rate_dirty = False
        bucket = self._buckets[0]
        wait = bucket.wait_time(anyio.current_time())
        if wait:
            self._rate_dirty = True
            await self._wait_change(wait)
            return
        try:
            await self._store.stats.refresh_success_rate(pace=lambda: self._pace(0))
        except Exception as exc:
            log.warning("could not refresh success_rate: %s", exc)

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> VerificationLogger:
        self._buckets = [
            _Bucket(self.settings.max_writes_per_second, self.settings.burst)
            for _ in range(self.settings.shards)
        ]
        self._changed = anyio.Event()
        await self._writer.announce_shards(self.settings.shards)
        self._closed = False
        self._closing = False
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._dispatch)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._closing = True
        self._notify()
        group = self._task_group
        assert group is not None
        timeout = self.settings.close_timeout
        unwritten: list[Verification] = []
        # Drain even when the body failed or was cancelled: accepted events are owed.
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(timeout if timeout is not None else float("inf")):
                while self.pending:
                    await self._wait_change(0.5)
            if self.pending:
                unwritten = [e for b in self._in_flight.values() for e in b]
                unwritten += list(self._buffer)
                self._buffer.clear()
                group.cancel_scope.cancel()
        try:
            await group.__aexit__(None, None, None)
        finally:
            self._closed = True
            self._task_group = None
        if unwritten:
            raise FlushTimeoutError(unwritten, timeout or 0.0)
        return None
