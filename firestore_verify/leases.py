"""Shard leases: a fleet of loggers shares the counter shards without hand-tuning.

Each counter shard ``k`` owns its hot documents (counter shard ``k`` and the
``~k`` rollups). A logger with ``leases=True`` writes only to the shards it
holds a lease on, so whatever the number of processes each hot document has one
writer, and that writer's token bucket keeps it at ``max_writes_per_second``.

Leases live at ``_metadata/leases/shards/{k}`` (``owner``, ``renewed_at``), and
every live process, holding shards or waiting for some, at
``_metadata/leases/members/{owner}``.
A process renews its leases every third of ``ttl`` (jittered, so a fleet's
renewals spread out); one that stops renewing (crashed, partitioned) loses
them ``ttl`` seconds after its last renewal, as Firestore's own clock counts (a
lease is expired when its document's ``update_time`` plus ``ttl`` is before
the read time), so clocks of the processes never matter. Every renewal also
rebalances: with ``n`` live owners each holds ``pool // n`` shards (the first
``pool % n`` by owner id one more), taking free or expired shards and
releasing extras.

A renewal holds no lock: it reads the pool, plans, and commits one batch whose
every write carries the ``update_time`` it read as a precondition, so two
processes acting on one view cannot both win (the loser reads again), and a
process killed mid-renewal leaves nothing behind.

A holder stops writing to a shard ``margin`` seconds before the lease could
expire (measured from the start of the renewal that granted it), so the next
holder's first write never meets the previous holder's last. A shard given
up is handed over the same way: the holder stops writing to it, waits until
its last write has settled (``settle``: no commit in flight, the write rate's
interval elapsed), and only then deletes the lease.

`plan_leases()` is the pure decision; `ShardLeases` is the thin
shell around it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from google.api_core import exceptions as gexc
from google.cloud import firestore

from firestore_verify.errors import ConfigurationError, ConflictError, FirestoreVerifyError

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["LeasePlan", "LeaseView", "ShardLeases", "plan_leases"]

log = logging.getLogger("firestore_verify.leases")

_SERVER_TS: Any = firestore.SERVER_TIMESTAMP
_ATTEMPTS = 8
"""Renewal attempts when other processes keep changing the pool in between."""
_LOST_RACE = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound, gexc.Aborted)
"""What a guarded write meets when another process wrote the lease since it was read."""


async def _settled(shard: int) -> None:
    """The default ``settle``: nothing to wait for."""


@dataclass(frozen=True)
class LeaseView:
    """One shard's lease as read: who holds it and when it was last renewed."""

    shard: int
    """The shard number."""
    owner: str | None
    """The owner's id, or ``None`` when nobody holds it."""
    renewed: datetime | None
    """Server time of the last renewal (the document's ``update_time``)."""


@dataclass(frozen=True)
class LeasePlan:
    """What one renewal writes: shards to keep (renew), take, and release."""

    keep: tuple[int, ...]
    """Shards this owner holds and renews."""
    take: tuple[int, ...]
    """Free or expired shards this owner takes."""
    release: tuple[int, ...]
    """Shards this owner gives up (it holds more than its share)."""

    @property
    def held(self) -> tuple[int, ...]:
        """The shards this owner holds once the plan is committed."""
        return tuple(sorted(self.keep + self.take))


def plan_leases(views: Sequence[LeaseView], *, me: str, now: datetime, ttl: float,
                members: Sequence[tuple[str, datetime]] = ()) -> LeasePlan:
    """Decide which shards ``me`` keeps, takes and releases; pure, no I/O.

    ``views`` is every shard of the pool and ``members`` every process that said
    it is alive (owner id, last renewal), as read at server time ``now``.
    """
    expiry = timedelta(seconds=ttl)

    def live(view: LeaseView) -> bool:
        return view.owner is not None and view.renewed is not None \
            and view.renewed + expiry > now

    alive = {owner for owner, renewed in members if renewed + expiry > now}
    owners = sorted({v.owner for v in views if live(v) and v.owner is not None} | alive | {me})
    share, extra = divmod(len(views), len(owners))
    target = share + (1 if owners.index(me) < extra else 0)
    mine = sorted(v.shard for v in views if v.owner == me and live(v))
    free = sorted(v.shard for v in views if not live(v))
    # A shard of mine that expired is free to anyone, me included.
    keep, release = mine[:target], mine[target:]
    take = free[:max(0, target - len(keep))]
    return LeasePlan(keep=tuple(keep), take=tuple(take), release=tuple(release))


class ShardLeases:
    """The shards one process may write to, kept through leases in Firestore.

    Use `acquire()` once, then run `maintain()` in a task group; call
    `release_all()` when done. `held()` says which shards may be
    written to right now; ``on_change`` is called whenever that set changes
    by a renewal. ``settle(shard)`` returns once this process's writes to a
    shard it stopped writing to are over (the logger waits for its commit in
    flight and the write interval): a lease is handed over only then.
    """

    def __init__(self, store: Store, *, pool: int, ttl: float = 30.0,
                 owner: str | None = None,
                 on_change: Callable[[], None] | None = None,
                 settle: Callable[[int], Awaitable[None]] = _settled) -> None:
        if pool < 1:
            raise ConfigurationError(f"a lease pool needs at least one shard, not {pool}.")
        if ttl < 3:
            raise ConfigurationError(f"lease ttl must be at least 3 s, not {ttl:g}.")
        self._store = store
        self.pool = pool
        """Number of shards the fleet shares (``LoggerSettings.shards``)."""
        self.ttl = ttl
        """Seconds a lease lasts without renewal."""
        self.margin = max(1.0, ttl / 5)
        """Seconds before a lease could expire that this process stops writing to it."""
        self.owner = owner or f"{uuid.uuid4().hex[:12]}"
        """This process's owner id (unique per logger)."""
        self._valid_until: dict[int, float] = {}
        self._changed = anyio.Event()
        self._on_change = on_change
        self._settle = settle
        self._stamps: dict[int, Any] = {}
        """Update time of each lease as this process last wrote it (its precondition)."""
        self.failed_renewals = 0
        """Renewals that failed (Firestore unreachable): leases then lapse, writes wait."""

    def _ref(self, shard: int) -> firestore.AsyncDocumentReference:
        ref: firestore.AsyncDocumentReference = self._root.collection("shards").document(
            str(shard))
        return ref

    @property
    def _root(self) -> firestore.AsyncDocumentReference:
        root: firestore.AsyncDocumentReference = self._store.collection("_metadata").document(
            "leases")
        return root

    @property
    def _members(self) -> firestore.AsyncCollectionReference:
        members: firestore.AsyncCollectionReference = self._root.collection("members")
        return members

    def held(self) -> list[int]:
        """Shards this process may write to now (leased, and not about to expire)."""
        now = anyio.current_time()
        return sorted(s for s, until in self._valid_until.items() if until > now)

    async def wait_changed(self) -> None:
        """Wait until the set of held shards changes (a renewal took or lost one)."""
        await self._changed.wait()

    async def _read(self) -> tuple[list[LeaseView], list[Any], datetime, dict[int, Any]]:
        """The pool and the members as stored now, with the read time and update times."""
        calls = self._store.calls
        refs = [self._ref(k) for k in range(self.pool)]
        snaps = await calls.collect(partial(self._store.client.get_all, refs, **calls.attempt))
        members = await calls.collect(partial(self._members.stream, **calls.attempt))
        views, stamps, now = [], {}, None
        for snap in snaps:
            data = snap.to_dict() if snap.exists else None
            views.append(LeaseView(shard=int(snap.id), owner=(data or {}).get("owner"),
                                   renewed=snap.update_time if snap.exists else None))
            stamps[int(snap.id)] = snap.update_time if snap.exists else None
            now = max(now or snap.read_time, snap.read_time)
        views.sort(key=lambda v: v.shard)
        assert now is not None
        return views, members, now, stamps

    async def renew(self) -> LeasePlan:
        """One renewal: keep, take and hand over shards per `plan_leases()`.

        Raises:
            ConflictError: other processes kept changing the pool for every attempt.
            UnavailableError: Firestore did not answer in time.

        """
        for attempt in range(_ATTEMPTS):
            started = anyio.current_time()
            views, members, now, stamps = await self._read()
            seen = [(m.id, m.update_time) for m in members]
            plan = plan_leases(views, me=self.owner, now=now, ttl=self.ttl, members=seen)
            try:
                written = await self._commit(plan, stamps, members, now)
            except _LOST_RACE as exc:
                # Another process changed the pool since it was read: read it again.
                log.debug("lease renewal of %s lost a race (%s), attempt %d", self.owner,
                          exc, attempt + 1)
                await anyio.sleep(random.uniform(0.05, 0.3))
                continue
            self._stamps = written
            before = set(self.held())
            until = started + self.ttl - self.margin
            self._valid_until = dict.fromkeys(plan.held, until)
            if set(plan.held) != before:
                log.info("shard leases of %s: %s", self.owner, list(plan.held))
                self._signal()
            if plan.release:
                await self._hand_over(plan.release)
            return plan
        raise ConflictError(f"shard lease renewal of {self.owner} lost {_ATTEMPTS} races in a "
                            "row to other processes; it is tried again at the next renewal.")

    async def _commit(self, plan: LeasePlan, stamps: dict[int, Any], members: list[Any],
                      now: datetime) -> dict[int, Any]:
        """Commit ``plan`` as one batch, each write guarded by the update time read.

        Shards to release are renewed too: they stay this process's until their
        hand-over. Returns each held shard's new update time.
        """
        client = self._store.client
        batch = client.batch()
        lease = {"owner": self.owner, "renewed_at": _SERVER_TS}
        order = [*plan.keep, *plan.take, *plan.release]
        for shard in order:
            stamp = stamps.get(shard)
            if stamp is None:
                batch.create(self._ref(shard), lease)
            else:
                batch.update(self._ref(shard), lease,
                             option=client.write_option(last_update_time=stamp))
        batch.set(self._members.document(self.owner), {"renewed_at": _SERVER_TS})
        expiry = timedelta(seconds=self.ttl)
        for member in members:  # processes gone for good
            if member.id != self.owner and member.update_time + expiry * 4 < now:
                batch.delete(member.reference,
                             option=client.write_option(last_update_time=member.update_time))
        results = await batch.commit(**self._store.calls.options)
        return {shard: result.update_time
                for shard, result in zip(order, results, strict=False)}

    async def _hand_over(self, shards: Sequence[int]) -> None:
        """Let this process's last writes to ``shards`` settle, then delete their leases."""
        with anyio.move_on_after(max(0.0, self.ttl - 2 * self.margin)):
            for shard in shards:
                await self._settle(shard)
        await self._delete(shards)

    async def _delete(self, shards: Sequence[int]) -> None:
        """Delete the leases of ``shards`` this process still holds as it last wrote them."""
        client = self._store.client
        for shard in shards:
            stamp = self._stamps.pop(shard, None)
            if stamp is None:
                continue
            with contextlib.suppress(*_LOST_RACE):  # it expired; another process holds it
                await self._ref(shard).delete(
                    option=client.write_option(last_update_time=stamp),
                    **self._store.calls.options)

    def _signal(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
        if self._on_change is not None:
            self._on_change()

    async def acquire(self) -> list[int]:
        """The first renewal; returns the shards held (possibly none: the pool is full).

        Losing every race to other processes is no error here: this process
        starts with no shard and the next renewal (within a second) tries again.
        """
        try:
            await self.renew()
        except ConflictError as exc:
            log.warning("%s", exc)
        return self.held()

    async def maintain(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
                       ) -> None:
        """Renew every ``ttl / 3`` seconds (every second while holding none) until cancelled.

        Failures are logged and retried at the next turn; the leases then lapse
        and writes wait, nothing is lost.
        """
        task_status.started()
        while True:
            # Holding nothing, ask again soon: a process that stops frees its shards at once.
            period = self.ttl / 3 if self.held() else min(1.0, self.ttl / 3)
            await anyio.sleep(period * random.uniform(0.8, 1.0))
            try:
                await self.renew()
            except FirestoreVerifyError as exc:
                self.failed_renewals += 1
                log.warning("could not renew shard leases (%s); writes wait for the next "
                            "renewal", exc)
                self._signal()

    async def release_all(self) -> None:
        """Give every lease back, once this process's last writes settled.

        Other processes then take the shards over at their next renewal.
        """
        held = sorted(self._valid_until)
        self._valid_until = {}
        self._signal()
        try:
            await self._hand_over(held)
            await self._members.document(self.owner).delete(**self._store.calls.options)
        except FirestoreVerifyError as exc:  # they expire by themselves
            log.warning("could not release shard leases (%s); they expire in %gs", exc,
                        self.ttl)
