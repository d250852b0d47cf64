"""Benchmark 2: dashboard totals, ``store.stats.get()`` vs a ``count()`` aggregation.

Both answer "how many verifications" on the same dataset; the median latency of
several calls each. ``stats.get()`` reads the counter documents, a fixed number
whatever the volume; ``count()`` is Firestore's aggregation over ``verifications``
(which the emulator, like production, answers by walking the index entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import firestore_verify as fv
from bench.harness import Row, count_label, median, ms, progress, timed_runs, times
from firestore_verify.counters import SHARDS_COLLECTION


@dataclass
class Point:
    """Both latencies at one dataset size."""

    size: int
    stats_seconds: float
    count_seconds: float
    stats_total: int
    count_total: int
    #: The ``_metadata/stats`` read, and listing the shards with a collection query
    #: (which grows with the database on the emulator: ``stats.get()`` reads them by id).
    document_seconds: float
    shards_seconds: float


async def _count(store: fv.Store) -> int:
    collection: Any = store.collection("verifications")  # count() is untyped upstream
    result = await collection.count().get()
    return int(result[0][0].value)


async def measure(store: fv.Store, size: int, runs: int) -> Point:
    """Median latencies of ``stats.get()`` and ``count()`` at ``size`` events."""
    stats_total = (await store.stats.get()).total_verifications  # also warms the channel
    count_total = await _count(store)
    stats = median(await timed_runs(runs, store.stats.get))
    count = median(await timed_runs(runs, lambda: _count(store)))
    document = median(await timed_runs(runs, store.stats.ref.get))
    shards = median(await timed_runs(runs, lambda: _shards(store)))
    progress(f"  2. totals @ {size:,}: stats.get() {ms(stats)} (stats doc {ms(document)}, "
             f"shards query {ms(shards)}), count() {ms(count)}")
    return Point(size, stats, count, stats_total, count_total, document, shards)


async def _shards(store: fv.Store) -> int:
    return len([s async for s in store.stats.ref.collection(SHARDS_COLLECTION).stream()])


def rows(points: list[Point]) -> list[Row]:
    """One row per size (the target at the largest), then the flatness of ``stats.get()``."""
    out = []
    largest = points[-1]
    for point in points:
        ratio = point.count_seconds / point.stats_seconds
        last = point is largest
        correct = point.stats_total == point.count_total == point.size
        out.append(Row(
            f"2. dashboard totals @ {count_label(point.size)} events: stats.get() vs count()",
            ms(point.stats_seconds), ms(point.count_seconds), times(ratio),
            ">= 100x, totals equal" if last else "totals equal",
            correct and (ratio >= 100 or not last),
            values={"events": point.size, "stats_get_seconds": point.stats_seconds,
                    "count_seconds": point.count_seconds, "ratio": ratio,
                    "stats_total": point.stats_total, "count_total": point.count_total}))
    first = points[0]
    out.append(Row(
        f"2. shards @ {count_label(largest.size)} events: stats doc + a shards query "
        "(why stats.get() reads shards by id)",
        f"stats doc {ms(largest.document_seconds)} + shards query {ms(largest.shards_seconds)}",
        f"@ {count_label(first.size)}: {ms(first.document_seconds)} + "
        f"{ms(first.shards_seconds)}", times(largest.shards_seconds / first.shards_seconds),
        values={"large_document": largest.document_seconds,
                "large_shards_query": largest.shards_seconds,
                "small_document": first.document_seconds,
                "small_shards_query": first.shards_seconds}))
    growth = largest.stats_seconds / first.stats_seconds
    out.append(Row(
        f"2. stats.get() flat {count_label(first.size)} -> {count_label(largest.size)} events",
        ms(largest.stats_seconds), ms(first.stats_seconds), times(growth), "<= 2x (flat)",
        growth <= 2,
        values={"small": first.stats_seconds, "large": largest.stats_seconds, "ratio": growth}))
    return out
