"""Dashboard counters: the ``_metadata/stats`` contract.

``_metadata/stats`` is shard 0. With more than one shard, shards ``1..N-1`` live
at ``_metadata/stats/shards/{i}`` and the sums over all shards are the truth;
with one shard, ``_metadata/stats`` alone is the whole answer, so any client
(the Firebase JS SDK included) can read it as one document.

``_metadata/stats.shards`` holds the shard count, raised before any event is
counted on a new shard: a logger raises it once when it starts (only if the
stored count is lower), and a writer used on its own raises it in its first
commit to shard ``k``, in the same atomic batch. So a reader that reads the
shards it names never misses one.

Group and channel totals are changed only by the group/channel transactions,
always on shard 0. ``success_rate`` is derived, never incremented: readers of
this library compute it from the counts (`Stats`), and
the verification logger refreshes the stored field for other clients.

This module is the contract (document paths, field transforms, summing the
shards); `firestore_verify.repositories.stats` reads and repairs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.cloud import firestore

from firestore_verify.models import Stats

if TYPE_CHECKING:
    from firestore_verify.store import Store

__all__ = [
    "COUNTER_FIELDS",
    "SHARDS_COLLECTION",
    "SHARD_COUNT_FIELD",
    "announce_shards",
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
    """Add the counter fields of every shard document into one `Stats`."""
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
