"""Dashboard counters: the ``_metadata/stats`` contract.

``_metadata/stats`` is shard 0. With more than one shard, shards ``1..N-1`` live
at ``_metadata/stats/shards/{i}`` and the sums over all shards are the truth;
with one shard, ``_metadata/stats`` alone is the whole answer, so any client
(the Firebase JS SDK included) can read it as one document.

Group and channel totals are changed only by the group/channel transactions,
always on shard 0. ``success_rate`` is derived, never incremented: readers of
this library compute it from the counts (:class:`~firestore_verify.Stats`), and
the verification logger refreshes the stored field for other clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.cloud import firestore

from firestore_verify.models import Stats

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = ["COUNTER_FIELDS", "StatsRepository", "increments", "shard_ref", "stats_ref"]

#: The integer fields of ``_metadata/stats`` that are counted with increments.
COUNTER_FIELDS = (
    "total_groups",
    "total_channels",
    "total_verifications",
    "success_count",
    "failed_count",
    "error_count",
)
SHARDS_COLLECTION = "shards"


def stats_ref(store: Store) -> firestore.AsyncDocumentReference:
    """``_metadata/stats``: counter shard 0."""
    return store.collection("_metadata").document("stats")


def shard_ref(store: Store, index: int) -> firestore.AsyncDocumentReference:
    """Counter shard ``index`` (0 is ``_metadata/stats`` itself)."""
    if index == 0:
        return stats_ref(store)
    return stats_ref(store).collection(SHARDS_COLLECTION).document(str(index))


def increments(deltas: Mapping[str, int]) -> dict[str, Any]:
    """Firestore field transforms adding ``deltas`` (zero deltas are left out)."""
    fields: dict[str, Any] = {
        name: firestore.Increment(delta) for name, delta in deltas.items() if delta
    }
    if fields:
        fields["last_updated"] = firestore.SERVER_TIMESTAMP
    return fields


def sum_shards(documents: list[Mapping[str, Any]]) -> Stats:
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

    async def get(self) -> Stats:
        """The totals and success rate, summed over every counter shard."""
        main = await self.ref.get()
        documents = [main.to_dict() or {}] if main.exists else []
        async for shard in self.ref.collection(SHARDS_COLLECTION).stream():
            documents.append(shard.to_dict() or {})
        return sum_shards(documents)
