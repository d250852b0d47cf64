"""``store.stats``: the dashboard totals, summed over the counter shards, and their repair."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from google.api_core import exceptions as gexc
from google.cloud import firestore

from firestore_verify.analytics import count_checks
from firestore_verify.counters import (
    SHARD_COUNT_FIELD,
    SHARDS_COLLECTION,
    increments,
    shard_ref,
    stats_ref,
    sum_shards,
)
from firestore_verify.live import LiveStream, document_source, query_source
from firestore_verify.models import Stats

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["Drift", "StatsRepository"]


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
        """Live totals: a new `Stats` whenever any counter shard changes."""
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
            return await count_checks(query, self._store.calls.options)

        def where(query: Any, field: str, value: Any) -> Any:
            return query.where(filter=firestore.FieldFilter(field, "==", value))

        recounts: dict[str, Callable[[], Awaitable[int]]] = {
            "total_groups": partial(count, where(groups, "enabled", True)),
            "total_channels": partial(count, store.collection("enforced_channels")),
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
        # Every event has one of the three statuses (the model requires it, and the
        # rules let no client write events): the total is their sum, one scan fewer.
        truth["total_verifications"] = (truth["success_count"] + truth["failed_count"]
                                        + truth["error_count"])
        current = await self.get()
        fixes = {name: truth[name] - getattr(current, name) for name in truth}
        fixes = {name: delta for name, delta in fixes.items() if delta}
        if fixes:
            await self.ref.set(increments(fixes), merge=True, **self._store.calls.options)
            await self.refresh_success_rate()
        return Drift(fixed=fixes, before=current, after=await self.get())


@dataclass(frozen=True)
class Drift:
    """What `StatsRepository.reconcile()` found and repaired."""

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
