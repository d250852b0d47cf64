"""Dashboard counters: the ``_metadata/stats`` contract.

``_metadata/stats`` is shard 0. With more than one shard, shards ``1..N-1`` live
at ``_metadata/stats/shards/{i}`` and the sums over all shards are the truth;
with one shard, ``_metadata/stats`` alone is the whole answer, so any client
(the Firebase JS SDK included) can read it as one document.

``_metadata/stats.shards`` holds the shard count: the first commit a writer
makes to shard ``k`` raises it to ``k + 1`` in the same atomic batch, so a
reader that reads the shards it names never misses one.

Group and channel totals are changed only by the group/channel transactions,
always on shard 0. ``success_rate`` is derived, never incremented: readers of
this library compute it from the counts (:class:`~firestore_verify.Stats`), and
the verification logger refreshes the stored field for other clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from google.api_core import exceptions as gexc
from google.cloud import firestore

from firestore_verify.live import LiveStream, document_source, query_source
from firestore_verify.models import Stats

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = [
    "COUNTER_FIELDS",
    "Drift",
    "StatsRepository",
    "increments",
    "shard_ref",
    "stats_ref",
    "sum_shards",
]

COUNTER_FIELDS = (
    "total_groups",
    "total_channels",
    "total_verifications",
    "success_count",
    "failed_count",
    "error_count",
    "total_users",
)
"""The integer fields of ``_metadata/stats`` that are counted with increments."""
SHARDS_COLLECTION = "shards"
SHARD_COUNT_FIELD = "shards"
"""Field of ``_metadata/stats`` holding how many counter shards exist (absent: 1)."""


def stats_ref(store: Store) -> firestore.AsyncDocumentReference:
    """``_metadata/stats``: counter shard 0."""
    return store.collection("_metadata").document("stats")


def shard_ref(store: Store, index: int) -> firestore.AsyncDocumentReference:
    """Counter shard ``index`` (0 is ``_metadata/stats`` itself)."""
    if index == 0:
        return stats_ref(store)
    shard: firestore.AsyncDocumentReference = (
        stats_ref(store).collection(SHARDS_COLLECTION).document(str(index))
    )
    return shard


def announce_shards(count: int) -> dict[str, Any]:
    """Fields for ``_metadata/stats`` raising its shard count to at least ``count``."""
    return {SHARD_COUNT_FIELD: firestore.Maximum(count)}


def increments(deltas: Mapping[str, int]) -> dict[str, Any]:
    """Firestore field transforms adding ``deltas`` (zero deltas are left out)."""
    fields: dict[str, Any] = {
        name: firestore.Increment(delta) for name, delta in deltas.items() if delta
    }
    if fields:
        fields["last_updated"] = firestore.SERVER_TIMESTAMP
    return fields


def sum_shards(documents: Sequence[Mapping[str, Any]]) -> Stats:
    """Add the counter fields of every shard document into one :class:`Stats`."""
    totals = dict.fromkeys(COUNTER_FIELDS, 0)
    last_updated = None
    for data in documents:
        for name in COUNTER_FIELDS:
            totals[name] += int(data.get(name) or 0)
        stamp = data.get("last_updated")
        if stamp is not None and (last_updated is None or stamp > last_updated):
            last_updated = stamp
    return Stats(**{name: max(value, 0) for name, value in totals.items()},
                 last_updated=last_updated)


class StatsRepository:
    """Reads the dashboard totals: a fixed number of documents, whatever the volume."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def ref(self) -> firestore.AsyncDocumentReference:
        """``_metadata/stats``."""
        return stats_ref(self._store)

    async def _shard_documents(self) -> tuple[Any, list[dict[str, Any]]]:
        """``_metadata/stats`` and every shard, read by id (``shards`` says how many)."""
        main = await self.ref.get(**self._store.calls.options)
        data = main.to_dict() or {} if main.exists else {}
        documents = [data] if main.exists else []
        count = int(data.get(SHARD_COUNT_FIELD) or 1)
        if count > 1:
            refs = [shard_ref(self._store, index) for index in range(1, count)]
            calls = self._store.calls
            for shard in await calls.collect(
                    lambda: self._store.client.get_all(refs, **calls.attempt)):
                if shard.exists:
                    documents.append(shard.to_dict() or {})
        return main, documents

    async def get(self) -> Stats:
        """The totals and success rate, summed over every counter shard.

        Reads ``_metadata/stats`` and, when it says there are more shards, those
        by id: a fixed number of documents, whatever the volume.
        """
        _, documents = await self._shard_documents()
        return sum_shards(documents)

    async def refresh_success_rate(
        self, *, pace: Callable[[], Awaitable[None]] | None = None
    ) -> float | None:
        """Rewrite ``success_rate`` on ``_metadata/stats`` from the shards' counts.

        Written only if ``_metadata/stats`` did not change since it was read
        (a later writer refreshes it again). Returns the rate written, or
        ``None`` when skipped. ``pace`` is awaited right before the write.
        """
        main, documents = await self._shard_documents()
        if not main.exists:
            return None
        rate = sum_shards(documents).success_rate
        if documents[0].get("success_rate") == rate:
            return rate
        option = self._store.client.write_option(last_update_time=main.update_time)
        if pace is not None:  # the write rate budget is spent at send time
            await pace()
        try:
            await self.ref.update({"success_rate": rate}, option=option,
                                  **self._store.calls.options)
        except (gexc.FailedPrecondition, gexc.NotFound):
            return None
        return rate

    def watch(self) -> LiveStream[Stats]:
        """Live totals: a new :class:`Stats` whenever any counter shard changes."""
        sync = self._store.sync_client
        main = sync.collection(self._store.collection_name("_metadata")).document("stats")
        shards = main.collection(SHARDS_COLLECTION)

        def combine(sources: list[list[Any]]) -> Stats:
            docs = [s.to_dict() or {} for src in sources for s in src if s.exists]
            return sum_shards(docs)

        return LiveStream([document_source(main), query_source(shards)], combine)

    async def reconcile(self) -> Drift:
        """Recount from the source collections and repair the counters.

        Groups (enabled), channels and verifications (by status) are counted
        with aggregation queries; any difference from the shards' sums is
        added to shard 0. Run it while loggers are quiet: events committed
        between the recount and the repair would be counted into the drift.
        """
        store = self._store
        groups = store.collection("protected_groups")
        events = store.collection("verifications")

        async def count(query: Any) -> int:
            result = await query.count().get(**self._store.calls.options)
            return int(result[0][0].value)

        async def checks(query: Any) -> int:
            # Each event stands for 1 + repeats checks (folded cache hits); events
            # stored without the field add nothing to the sum.
            aggregation = query.count(alias="events").sum("repeats", alias="repeats")
            result = await aggregation.get(**self._store.calls.options)
            values = {item.alias: item.value for item in result[0]}
            return int(values["events"]) + int(values["repeats"] or 0)

        def where(query: Any, field: str, value: Any) -> Any:
            return query.where(filter=firestore.FieldFilter(field, "==", value))

        recounts: dict[str, Callable[[], Awaitable[int]]] = {
            "total_groups": partial(count, where(groups, "enabled", True)),
            "total_channels": partial(count, store.collection("enforced_channels")),
            "total_verifications": partial(checks, events),
            "success_count": partial(checks, where(events, "status", "success")),
            "failed_count": partial(checks, where(events, "status", "failed")),
            "error_count": partial(checks, where(events, "status", "error")),
            "total_users": partial(count, store.collection("verification_users")),
        }
        truth: dict[str, int] = {}
        failures: list[Exception] = []

        async def recount(name: str, scope: anyio.CancelScope) -> None:
            try:
                truth[name] = await recounts[name]()
            except Exception as exc:  # raised as it is below, not as an exception group
                failures.append(exc)
                scope.cancel()

        # Each aggregation scans an index on the server: run them side by side.
        async with anyio.create_task_group() as tasks:
            for name in recounts:
                tasks.start_soon(recount, name, tasks.cancel_scope)
        if failures:
            raise failures[0]
        current = await self.get()
        fixes = {name: truth[name] - getattr(current, name) for name in truth}
        fixes = {name: delta for name, delta in fixes.items() if delta}
        if fixes:
            await self.ref.set(increments(fixes), merge=True, **self._store.calls.options)
            await self.refresh_success_rate()
        return Drift(fixed=fixes, before=current, after=await self.get())


@dataclass(frozen=True)
class Drift:
    """What :meth:`StatsRepository.reconcile` found and repaired."""

    fixed: dict[str, int]
    """Counter name -> amount added to make it true (empty: no drift)."""
    before: Stats
    """The counters (summed over the shards) before the repair."""
    after: Stats
    """The counters read again after the repair."""

    @property
    def drifted(self) -> bool:
        """Whether any counter was wrong."""
        return bool(self.fixed)
