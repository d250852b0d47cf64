"""Benchmark 3: a 30-day summary, ``store.analytics.summary("30d")`` vs scanning the events.

The baseline streams every event of the period (``occurred_at`` from midnight UTC
29 days ago to now), fetching only ``status`` (a projection: as cheap as a scan
gets), and counts by status. Both must agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from google.cloud.firestore_v1.base_query import FieldFilter

import firestore_verify as fv
from bench.harness import Row, Stopwatch, count_label, median, ms, progress, timed_runs, times
from bench.workload import window_start

DAYS = 30


@dataclass
class Point:
    """Both latencies at one dataset size."""

    size: int
    summary_seconds: float
    scan_seconds: float
    documents_read: int
    events_scanned: int
    agree: bool


async def scan(store: fv.Store) -> tuple[fv.Counts, int]:
    """Count the events of the last 30 UTC days by status, one document at a time."""
    now = datetime.now(timezone.utc)
    query = (store.collection("verifications")
             .where(filter=FieldFilter("occurred_at", ">=", window_start(now, DAYS)))
             .where(filter=FieldFilter("occurred_at", "<=", now))
             .select(["status"]))
    statuses: Counter[str] = Counter()
    async for snapshot in query.stream():
        statuses[str(snapshot.get("status"))] += 1
    total = sum(statuses.values())
    counts = fv.Counts(total, statuses["success"], statuses["failed"], statuses["error"])
    return counts, total


async def measure(store: fv.Store, size: int, runs: int, scan_runs: int) -> Point:
    """Median latencies of the rollup summary and of the scan at ``size`` events."""
    summary = await store.analytics.summary("30d")
    with Stopwatch() as first_scan:
        scanned, events = await scan(store)
    fast = median(await timed_runs(runs, lambda: store.analytics.summary("30d")))
    slow = median([first_scan.seconds,
                   *await timed_runs(scan_runs - 1, lambda: scan(store))])
    agree = summary.counts == scanned and scanned.total == size
    progress(f"  3. 30d summary @ {size:,}: rollups {ms(fast)} ({summary.documents_read} docs), "
             f"scan {ms(slow)} ({events:,} docs), agree={agree}")
    return Point(size, fast, slow, summary.documents_read, events, agree)


def rows(points: list[Point]) -> list[Row]:
    """One row per size: latency and documents read, beside the scan's."""
    out = []
    for point in points:
        ratio = point.scan_seconds / point.summary_seconds
        out.append(Row(
            f"3. 30-day summary @ {count_label(point.size)} events: rollups vs scan",
            f"{ms(point.summary_seconds)} ({point.documents_read} docs)",
            f"{ms(point.scan_seconds)} ({point.events_scanned:,} docs)", times(ratio),
            f"<= {DAYS} docs read, counts equal",
            point.documents_read <= DAYS and point.agree,
            values={"events": point.size, "summary_seconds": point.summary_seconds,
                    "scan_seconds": point.scan_seconds, "ratio": ratio,
                    "documents_read": point.documents_read,
                    "events_scanned": point.events_scanned, "counts_equal": point.agree}))
    return out
