"""Shard leases: a fleet of loggers shares the counter shards without hand-tuning.

Each counter shard ``k`` owns its hot documents (counter shard ``k`` and the
``~k`` rollups). A logger with ``leases=True`` writes only to the shards it
holds a lease on, so whatever the number of processes each hot document has one
writer, and that writer's token bucket keeps it at ``max_writes_per_second``.

Leases live at ``_metadata/leases/shards/{k}`` (``owner``, ``renewed_at``), and
every live process, holding shards or waiting for some, at
``_metadata/leases/members/{owner}``.
A process renews its leases every third of ``ttl``; one that stops renewing
(crashed, partitioned) loses them ``ttl`` seconds after its last renewal, as
Firestore's own clock counts (a lease is expired when its document's
``update_time`` plus ``ttl`` is before the transaction's read time), so clocks
of the processes never matter. Every renewal also rebalances: with ``n`` live
owners each holds ``pool // n`` shards (the first ``pool % n`` by owner id one
more), taking free or expired shards and releasing extras, in one transaction.

A holder stops writing to a shard ``margin`` seconds before the lease could
expire (measured from the start of the renewal that granted it), so the next
holder's first write never meets the previous holder's last.

:func:`plan_leases` is the pure decision; :class:`ShardLeases` is the thin
transactional shell around it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus
from google.cloud import firestore

from firestore_verify.errors import ConfigurationError, FirestoreVerifyError
from firestore_verify.repositories._base import run_transaction

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["LeasePlan", "LeaseView", "ShardLeases", "plan_leases"]

log = logging.getLogger("firestore_verify.leases")

_SERVER_TS: Any = firestore.SERVER_TIMESTAMP


@dataclass(frozen=True)
class LeaseView:
    """One shard's lease as read: who holds it and when it was last renewed."""

    #: The shard number.
    shard: int
    #: The owner's id, or ``None`` when nobody holds it.
    owner: str | None
    #: Server time of the last renewal (the document's ``update_time``).
    renewed: datetime | None


@dataclass(frozen=True)
class LeasePlan:
    """What one renewal writes: shards to keep (renew), take, and release."""

    #: Shards this owner holds and renews.
    keep: tuple[int, ...]
    #: Free or expired shards this owner takes.
    take: tuple[int, ...]
    #: Shards this owner gives up (it holds more than its share).
    release: tuple[int, ...]

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

    Use :meth:`acquire` once, then run :meth:`maintain` in a task group; call
    :meth:`release_all` when done. :meth:`held` says which shards may be
    written to right now; ``on_change`` is called whenever that set changes
    by a renewal.
    """

    def __init__(self, store: Store, *, pool: int, ttl: float = 30.0,
                 owner: str | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        if pool < 1:
            raise ConfigurationError(f"a lease pool needs at least one shard, not {pool}.")
        if ttl < 3:
            raise ConfigurationError(f"lease ttl must be at least 3 s, not {ttl:g}.")
        self._store = store
        #: Number of shards the fleet shares (``LoggerSettings.shards``).
        self.pool = pool
        #: Seconds a lease lasts without renewal.
        self.ttl = ttl
        #: Seconds before a lease could expire that this process stops writing to it.
        self.margin = max(1.0, ttl / 5)
        #: This process's owner id (unique per logger).
        self.owner = owner or f"{uuid.uuid4().hex[:12]}"
        self._valid_until: dict[int, float] = {}
        self._changed = anyio.Event()
        self._on_change = on_change
        #: Renewals that failed (Firestore unreachable): leases then lapse, writes wait.
        self.failed_renewals = 0

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

    async def renew(self) -> LeasePlan:
        """One renewal transaction: keep, take and release per :func:`plan_leases`."""
        started = anyio.current_time()
        refs = [self._ref(k) for k in range(self.pool)]

        async def body(tx: firestore.AsyncTransaction) -> LeasePlan:
            views, now = [], None
            async for snap in self._store.client.get_all(refs, transaction=tx):
                data = snap.to_dict() if snap.exists else None
                views.append(LeaseView(shard=int(snap.id), owner=(data or {}).get("owner"),
                                       renewed=snap.update_time if snap.exists else None))
                now = now or snap.read_time
            views.sort(key=lambda v: v.shard)
            assert now is not None
            query: Any = self._members  # google's stubs type transaction= as the sync kind
            members = [(snap.id, snap.update_time) for snap in await query.get(transaction=tx)]
            plan = plan_leases(views, me=self.owner, now=now, ttl=self.ttl, members=members)
            for shard in plan.held:
                tx.set(self._ref(shard), {"owner": self.owner, "renewed_at": _SERVER_TS})
            for shard in plan.release:
                tx.delete(self._ref(shard))
            tx.set(self._members.document(self.owner), {"renewed_at": _SERVER_TS})
            expiry = timedelta(seconds=self.ttl)
            for owner, renewed in members:  # processes gone for good
                if owner != self.owner and renewed + expiry * 4 < now:
                    tx.delete(self._members.document(owner))
            return plan

        plan = await run_transaction(self._store, body)
        before = set(self.held())
        until = started + self.ttl - self.margin
        self._valid_until = dict.fromkeys(plan.held, until)
        if set(plan.held) != before:
            log.info("shard leases of %s: %s", self.owner, list(plan.held))
            self._signal()
        return plan

    def _signal(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()
        if self._on_change is not None:
            self._on_change()

    async def acquire(self) -> list[int]:
        """The first renewal; returns the shards held (possibly none: the pool is full)."""
        await self.renew()
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
            await anyio.sleep(self.ttl / 3 if self.held() else min(1.0, self.ttl / 3))
            try:
                await self.renew()
            except FirestoreVerifyError as exc:
                self.failed_renewals += 1
                log.warning("could not renew shard leases (%s); writes wait for the next "
                            "renewal", exc)
                self._signal()

    async def release_all(self) -> None:
        """Give every lease back at once, so other processes take the shards over now."""
        held = list(self._valid_until)
        self._valid_until = {}
        self._signal()
        refs = [self._ref(k) for k in held]

        async def body(tx: firestore.AsyncTransaction) -> None:
            if refs:
                async for snap in self._store.client.get_all(refs, transaction=tx):
                    if snap.exists and (snap.to_dict() or {}).get("owner") == self.owner:
                        tx.delete(snap.reference)
            tx.delete(self._members.document(self.owner))

        try:
            await run_transaction(self._store, body)
        except FirestoreVerifyError as exc:  # they expire by themselves
            log.warning("could not release shard leases (%s); they expire in %gs", exc,
                        self.ttl)
