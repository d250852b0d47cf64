"""`VerificationLogger`: bots call ``record()`` and never wait on Firestore.

Events go into a bounded buffer. A dispatcher commits them through the
`EventWriter` as soon as a counter shard has
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
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio.abc import TaskGroup
from google.api_core import exceptions as gexc
from pydantic import BaseModel, ConfigDict, Field

from firestore_verify.calls import is_transient
from firestore_verify.errors import (
    BufferFullError as BufferFullError,  # re-exported: its old home
)
from firestore_verify.errors import (
    ConflictError,
    LoggerClosedError,
    LoggerFailedError,
    SpoolError,
    UnavailableError,
)
from firestore_verify.errors import (
    FlushTimeoutError as FlushTimeoutError,  # re-exported: its old home
)
from firestore_verify.events import MAX_WRITES_PER_COMMIT, EventWriter
from firestore_verify.folds import CacheHitPolicy, HitFolder
from firestore_verify.leases import ShardLeases
from firestore_verify.models import Verification
from firestore_verify.models._base import TypedErrorsModel
from firestore_verify.spool import EventSpool

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = [
    "LoggerHealth",
    "LoggerSettings",
    "LoggerStats",
    "VerificationLogger",
]

log = logging.getLogger("firestore_verify.logger")

_QUIET = 0.005
"""A gap between arrivals this long means "no more events are coming right now"."""


class LoggerSettings(TypedErrorsModel):
    """How a `VerificationLogger` balances liveness against write rates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shards: int = Field(default=1, ge=1, le=1000)
    """Counter (and rollup) shards this process spreads its commits over."""
    max_writes_per_second: float = Field(default=1.0, gt=0, le=100)
    """Most writes per second this process makes to any one hot document."""
    burst: int = Field(default=1, ge=1, le=100)
    """Commits a shard may make at once after being idle (token bucket size)."""
    max_batch_events: int = Field(default=400, ge=1, le=490)
    """Most events in one commit (Firestore allows 500 writes per commit)."""
    buffer_size: int = Field(default=10_000, ge=1)
    """Most events buffered or in flight; ``record()`` refuses beyond it."""
    linger_seconds: float = Field(default=0.05, ge=0, le=1)
    """Longest an event waits for companions while events keep streaming in
    (a lone event goes as soon as arrivals pause for a few milliseconds).
    """
    close_timeout: float | None = Field(default=60.0, gt=0)
    """Seconds closing may take to commit what is left (``None``: no limit)."""
    spool: Path | None = None
    """A local file (SQLite) where each event is stored durably before ``record()``
    returns, and removed once committed; the next start replays what is left, so
    even a killed process loses nothing. ``None``: events live in memory only.
    """
    leases: bool = False
    """Share the ``shards`` with every other process through leases in Firestore:
    each process writes only to the shards it holds, so each hot document has
    one writer whatever the number of processes. ``shards`` is then the
    fleet's pool: make it at least the most processes you will run.
    """
    lease_seconds: float = Field(default=30.0, ge=3, le=600)
    """Seconds a shard lease lasts without renewal (a crashed process's shards
    are taken over after it).
    """
    cache_hits: CacheHitPolicy = "every"
    """What a cache hit (``cached=True``) becomes: ``"every"`` an event of its own;
    ``"fold"`` one event per user, group, channel and outcome every
    ``fold_seconds``, its ``repeats`` counting the others (counters stay exact);
    ``"sample"`` one stored hit in ``sample_every`` (counters become estimates).
    """
    fold_seconds: float = Field(default=60.0, gt=0, le=3600)
    """Seconds a fold of cache hits stays open before its event is written."""
    sample_every: int = Field(default=10, ge=1, le=10_000)
    """With ``cache_hits="sample"``, one hit in this many is stored."""
    retention_days: float | None = Field(default=None, gt=0, le=36_500)
    """Days an event is kept: each gets ``expires_at = occurred_at + retention_days``
    for a Firestore TTL policy on ``expires_at`` to delete it (see "Keep events for
    a while" in the docs). ``None``: events carry no expiry.
    """


class LoggerHealth(BaseModel):
    """What a logger is going through right now, for a health endpoint."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ok", "retrying", "failed", "stopped"]
    """``ok`` (commits go through), ``retrying`` (Firestore errors, being retried:
    nothing is lost, events wait), ``failed`` (stopped on an error no retry fixes),
    ``stopped`` (not entered, or closed).
    """
    pending: int
    """Events accepted and not yet committed."""
    consecutive_errors: int
    """Failed attempts since the last commit that went through."""
    last_error: str | None = None
    """The last Firestore error, as ``Type: message``."""
    last_error_at: datetime | None = None
    """When the last error happened (UTC)."""
    last_commit_at: datetime | None = None
    """When a commit last went through (UTC)."""
    shards: list[int] = Field(default_factory=list)
    """Counter shards this logger may write to now (all of them without leases)."""


class LoggerStats(BaseModel):
    """Counts of what a logger did, for metrics."""

    recorded: int = 0
    """Events accepted by ``record()`` / ``put()`` (folded or sampled-out hits included)."""
    replayed: int = 0
    """Events found in the spool on start (a previous run's) and written again."""
    committed: int = 0
    """Events written and counted by this logger's commits."""
    commits: int = 0
    """Batches committed."""
    already_stored: int = 0
    """Events found already stored at commit (a replay or duplicate id): not recounted."""
    conflicts: int = 0
    """Commits that failed on a precondition and were re-planned."""
    retries: int = 0
    """Reads and commits retried after a transient error, within writes that went through."""
    failed_commits: int = 0
    """Batch writes that failed: retried after a backoff, or the logger stopped."""
    peak_writes_per_second: int = 0
    """Most writes any one hot document got from this logger within one second."""
    folded: int = 0
    """Cache hits folded into another event (``cache_hits="fold"``)."""
    sampled_out: int = 0
    """Cache hits the sample left out (``cache_hits="sample"``)."""


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
        self._started = False
        self._failure: Exception | None = None
        self._resume_at = 0.0
        self._waits: Iterator[float] = store.calls.backoff()
        self._errors_in_row = 0
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._last_commit_at: datetime | None = None
        self._spool: EventSpool | None = None
        self._leases: ShardLeases | None = None
        self._lease_scope: anyio.CancelScope | None = None
        self._folder = HitFolder(settings.cache_hits, window=settings.fold_seconds,
                                 sample_every=settings.sample_every)
        self._folds_opened: anyio.Event | None = None
        self._last_write_end: dict[int, float] = {}
        """When each shard's last commit ended (``anyio.current_time()``), for hand-overs."""
        self.stats = LoggerStats()
        """What this logger has done so far."""

    @property
    def health(self) -> LoggerHealth:
        """The logger's state now: ok, retrying (and why), failed, or stopped."""
        if self._failure is not None:
            status: Literal["ok", "retrying", "failed", "stopped"] = "failed"
        elif self._closed:
            status = "stopped"
        elif self._errors_in_row:
            status = "retrying"
        else:
            status = "ok"
        return LoggerHealth(status=status, pending=self.pending,
                            consecutive_errors=self._errors_in_row,
                            last_error=self._last_error, last_error_at=self._last_error_at,
                            last_commit_at=self._last_commit_at, shards=self._writable())

    def _writable(self) -> list[int]:
        if self._closed:
            return []
        if self._leases is not None:
            return self._leases.held()
        return list(range(len(self._buckets)))

    # -- recording --------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events accepted but not yet committed."""
        return len(self._buffer) + self._in_flight_events + len(self._folder)

    def _accept(self, event: Verification | Mapping[str, Any]) -> Verification:
        if self._failure is not None:
            raise self._failed_error()
        if not self._started:
            raise LoggerClosedError(
                "this logger has not started: enter it first, `async with "
                "store.verifications.logger() as log:`, and record inside the block."
            )
        if self._closed or self._closing:
            raise LoggerClosedError(
                "this logger is closed; record events inside `async with store.verifications"
                ".logger() as log:`."
            )
        parsed = Verification.parse(event)
        retention = self.settings.retention_days
        if retention is not None and parsed.expires_at is None:
            parsed = parsed.model_copy(
                update={"expires_at": parsed.occurred_at + timedelta(days=retention)})
        return parsed

    def _failed_error(self) -> LoggerFailedError:
        error = LoggerFailedError(
            f"the logger stopped committing: Firestore refused a commit with an error no "
            f"retry can fix ({self._last_error}); fix the cause (security rules, "
            "credentials, database id) and write .unwritten with write_many().",
            unwritten=self._unwritten(),
        )
        error.__cause__ = self._failure
        return error

    def _unwritten(self) -> list[Verification]:
        return ([e for b in self._in_flight.values() for e in b] + list(self._buffer)
                + self._folder.open_events())

    def record(self, event: Verification | Mapping[str, Any]) -> Verification:
        """Accept ``event`` for writing; returns at once, never waits on Firestore.

        Raises:
            InvalidInputError: the event can never be written.
            BufferFullError: the buffer is full (use ``await put()`` to wait).
            LoggerClosedError: the logger is not running.
            LoggerFailedError: the logger stopped on an error no retry fixes.

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
        """Like `record()`, but waits for room when the buffer is full (backpressure)."""
        parsed = self._accept(event)
        while self.pending >= self.settings.buffer_size:
            await self._wait_change()
            if self._failure is not None:
                raise self._failed_error()
            if self._closed:
                raise LoggerClosedError("the logger closed while waiting for room.")
        self._push(parsed)
        return parsed

    def _push(self, event: Verification, *, replayed: bool = False) -> None:
        if replayed:
            # Stored as it was accepted (sampled, or a fold as it stood): written as is.
            self._enqueue(event, anyio.current_time())
            self.stats.replayed += 1
            self._notify()
            return
        if self._folder.sampled_out(event):
            self.stats.recorded += 1
            self.stats.sampled_out += 1
            return
        event = self._folder.sample(event)
        if self._spool is not None:
            # Durable first: a SpoolError means "not accepted". A folded hit is spooled
            # as its fold's new state, so a replay writes each fold once, as it stood:
            # one already committed is skipped, a later fold of the same key is not.
            grown = self._folder.absorbing(event)
            self._spool.append(event if grown is None else grown, replace=grown is not None)
        now = anyio.current_time()
        folded = self._folder.fold(event, now)
        if folded is None:
            self._enqueue(event, now)
        elif folded == "absorbed":
            self.stats.folded += 1
        elif len(self._folder) == 1 and self._folds_opened is not None:
            self._folds_opened.set()  # the fold task waits for a first fold
        self.stats.recorded += 1
        self._notify()

    def _enqueue(self, event: Verification, now: float) -> None:
        if not self._buffer:
            self._oldest_arrival = now
        self._last_arrival = now
        self._buffer.append(event)

    def _close_folds(self, closed: list[Verification]) -> None:
        """Queue the events of closed folds for writing."""
        now = anyio.current_time()
        for event in closed:
            self._enqueue(event, now)
        if closed:
            self._notify()

    async def _release_folds(self) -> None:
        """Queue each fold of cache hits for writing as its window ends (``"fold"``)."""
        while not self._closing:
            opened = self._folds_opened = anyio.Event()
            due = self._folder.next_due()
            if due is None:
                await opened.wait()
                continue
            # Woken early only when the logger closes (it sets the event then).
            with anyio.move_on_after(due - anyio.current_time()):
                await opened.wait()
            self._close_folds(self._folder.close_due(anyio.current_time()))

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
        """Wait until every event accepted so far is committed.

        Raises:
            LoggerFailedError: the logger stopped on an error no retry fixes.

        """
        self._close_folds(self._folder.close_all())  # open folds are written now
        while self.pending:
            if self._failure is not None:
                raise self._failed_error()
            await self._wait_change(0.5)

    # -- dispatching ------------------------------------------------------------------
    def _free_shard(self, now: float) -> tuple[int | None, float]:
        """A shard that may commit now, else the time until one may."""
        best_wait = float("inf")
        writable = self._writable()
        # Random order: processes sharing the shards rarely pick the same one at once.
        order = random.sample(writable, len(writable))
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
            if not self._buffer or self._failure is not None:
                if self._closing and not self._in_flight_events:
                    return
                if (not self._closing and self._rate_dirty and not self._busy_shards
                        and self._failure is None and 0 in self._writable()):
                    await self._refresh_rate()
                    continue
                await self._wait_change()
                continue
            now = anyio.current_time()
            if now < self._resume_at:  # backing off after a failed commit
                await self._wait_change(self._resume_at - now)
                continue
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
        failure: Exception | None = None
        try:
            outcome = await self._writer.write(
                batch, shard=shard, pace=lambda: self._pace(shard), on_error=self._note_error)
        except Exception as exc:  # sorted below: retried when transient, else the logger stops
            failure = exc
        else:
            self.stats.commits += 1
            self.stats.committed += outcome.written
            self.stats.already_stored += outcome.already_stored
            self.stats.conflicts += outcome.conflicts
            self.stats.retries += outcome.retries
            self._rate_dirty = self._rate_dirty or outcome.written > 0
            self._errors_in_row = 0
            self._waits = self._store.calls.backoff()
            self._last_commit_at = datetime.now(timezone.utc)
            self._acknowledge(batch)
        finally:
            self._in_flight.pop(id(batch), None)
            self._busy_shards.discard(shard)
            self._last_write_end[shard] = anyio.current_time()
            self._in_flight_users.difference_update(e.user_id for e in batch)
            self._in_flight_events -= len(batch)
            if failure is not None:
                # Back first in line, and out of flight in the same step: counted once.
                self._buffer.extendleft(reversed(batch))
            self._notify()
        if failure is not None:
            self._commit_failed(failure, len(batch))

    def _acknowledge(self, batch: list[Verification]) -> None:
        ids = [e.id for e in batch]
        if self._spool is None:
            return
        try:
            self._spool.acknowledge(ids)
        except SpoolError as exc:  # the events stay spooled: the next start skips them
            log.warning("could not clear committed events from the spool: %s", exc)

    def _note_error(self, exc: Exception) -> None:
        self._errors_in_row += 1
        self._last_error = _describe(exc)
        self._last_error_at = datetime.now(timezone.utc)

    def _commit_failed(self, exc: Exception, size: int) -> None:
        self.stats.failed_commits += 1
        self._note_error(exc)
        if _retryable(exc):
            wait = next(self._waits)
            self._resume_at = anyio.current_time() + wait
            log.warning("commit of %d events failed, retrying in %.1fs: %s", size, wait,
                        self._last_error)
        else:
            self._failure = exc
            log.error("commit of %d events failed with an error no retry fixes; the logger "
                      "stopped committing (%d events kept): %s", size, self.pending,
                      self._last_error)
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
        self._busy_shards.add(0)  # it writes shard 0's document: a hand-over waits for it
        try:
            await self._store.stats.refresh_success_rate(pace=lambda: self._pace(0))
        except Exception as exc:
            log.warning("could not refresh success_rate: %s", exc)
        finally:
            self._busy_shards.discard(0)
            self._last_write_end[0] = anyio.current_time()
            self._notify()

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> VerificationLogger:
        self._buckets = [
            _Bucket(self.settings.max_writes_per_second, self.settings.burst)
            for _ in range(self.settings.shards)
        ]
        self._changed = anyio.Event()
        replay: list[Verification] = []
        if self.settings.spool is not None:
            self._spool = EventSpool(self.settings.spool)  # a bad path fails here
            replay = self._spool.pending()
        try:
            await self._writer.announce_shards(self.settings.shards)
            if self.settings.leases:
                self._leases = ShardLeases(self._store, pool=self.settings.shards,
                                           ttl=self.settings.lease_seconds,
                                           on_change=self._notify, settle=self._settle)
                await self._leases.acquire()
        except BaseException:
            self._close_spool()
            self._leases = None
            raise
        self._started = True
        self._closed = False
        self._closing = False
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._dispatch)
        if self.settings.cache_hits == "fold":
            self._task_group.start_soon(self._release_folds)
        if self._leases is not None:
            # The scope exists before the task runs: leaving at once still cancels it.
            self._lease_scope = anyio.CancelScope()
            self._task_group.start_soon(self._maintain_leases, self._leases, self._lease_scope)
        for event in replay:  # a previous run's; the writer skips those that did land
            self._push(event, replayed=True)
        if replay:
            log.info("replaying %d events from the spool %s", len(replay), self.settings.spool)
        return self

    async def _maintain_leases(self, leases: ShardLeases, scope: anyio.CancelScope) -> None:
        with scope:
            await leases.maintain()

    async def _settle(self, shard: int) -> None:
        """Return once this logger's writes to ``shard`` are over (a hand-over waits).

        Over means no commit in flight and the write interval elapsed since the
        last one ended, so the next holder's first write keeps the write rate.
        """
        while shard in self._busy_shards:
            await self._wait_change(0.5)
        rest = (self._last_write_end.get(shard, float("-inf"))
                + 1 / self.settings.max_writes_per_second - anyio.current_time())
        if rest > 0:
            await anyio.sleep(rest)

    def _close_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._closing = True
        self._close_folds(self._folder.close_all())  # open folds are written now
        if self._folds_opened is not None:
            self._folds_opened.set()  # the fold task sees the closing and ends
        self._notify()
        group = self._task_group
        assert group is not None
        timeout = self.settings.close_timeout
        unwritten: list[Verification] = []
        failed: LoggerFailedError | None = None
        # Drain even when the body failed or was cancelled: accepted events are owed.
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(timeout if timeout is not None else float("inf")):
                # While draining the leases are still renewed (a long drain keeps its shards).
                while self.pending and self._failure is None:
                    await self._wait_change(0.5)
            if self.pending:
                unwritten = self._unwritten()
                failed = self._failed_error() if self._failure is not None else None
                self._buffer.clear()
                group.cancel_scope.cancel()
        if self._lease_scope is not None:
            self._lease_scope.cancel()
        try:
            await group.__aexit__(None, None, None)
        finally:
            self._closed = True
            self._task_group = None
            self._close_spool()
            if self._leases is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                    await self._leases.release_all()
                self._leases = None
                self._lease_scope = None
        if unwritten:
            if failed is not None:
                raise failed
            raise FlushTimeoutError(unwritten, timeout or 0.0)
        return None


def _retryable(exc: Exception) -> bool:
    """Whether a failed commit is worth trying again (an outage, contention)."""
    return (isinstance(exc, (UnavailableError, ConflictError, gexc.Aborted))
            or is_transient(exc))


def _describe(exc: Exception) -> str:
    message = exc.message if isinstance(exc, gexc.GoogleAPICallError) else str(exc)
    return f"{type(exc).__name__}: {message}"
