"""Benchmark 4: write-to-watch latency at low load (about 10 events/s).

From ``log.record(event)`` to the first ``store.stats.watch()`` value whose
``total_verifications`` includes that event, for every event; p50 and p95.
Events arrive at random intervals averaging ``1 / watch_rate`` seconds.

The baseline is the fastest naive path: one ``Increment`` update of
``_metadata/stats`` per event (awaited), watched the same way.

Every commit is observed (``WriteObserver``), so the table also says how many
writes per second the busiest document received.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from google.cloud import firestore

import firestore_verify as fv
from bench.harness import Context, HotWrites, Row, WriteObserver, percentile, progress, times
from bench.workload import Workload

#: One commit per shard per second at most, and enough shards that at about 10
#: events/s one of them almost always has its token: S >= rate / R (docs/write-rates.md).
SETTINGS = fv.LoggerSettings(shards=16, max_writes_per_second=1, burst=1)
TARGET_P95 = 0.250


@dataclass
class Latencies:
    """Per-event latencies of one run, and the busiest document's write rate."""

    seconds: list[float]
    missing: int
    #: The busiest hot document, as Firestore received its writes.
    hot: HotWrites

    def p(self, pct: float) -> float:
        return percentile(self.seconds, pct) if self.seconds else float("inf")


async def _measure(store: fv.Store, events: list[fv.Verification], rate: float,
                   send: Callable[[fv.Verification], Awaitable[object]]) -> Latencies:
    """Send ``events`` at about ``rate``/s with ``send`` while watching the totals."""
    sent: list[float] = []
    arrivals: list[tuple[float, int]] = []
    jitter = random.Random(4)
    done = anyio.Event()
    async with store.stats.watch() as stream:
        first = await stream.next()  # the listener is live: later values are news
        base = first.total_verifications

        async def consume() -> None:
            async for stats in stream:
                arrivals.append((time.perf_counter(), stats.total_verifications - base))
                if stats.total_verifications - base >= len(events):
                    done.set()
                    return

        with WriteObserver(store) as observer:
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                next_at = time.perf_counter()
                for event in events:
                    await anyio.sleep(max(0.0, next_at - time.perf_counter()))
                    sent.append(time.perf_counter())
                    await send(event)
                    next_at += jitter.uniform(0.5, 1.5) / rate
                with anyio.move_on_after(10):
                    await done.wait()
                tg.cancel_scope.cancel()
    latencies, missing = [], 0
    cursor = 0
    for index, stamp in enumerate(sent):
        while cursor < len(arrivals) and arrivals[cursor][1] < index + 1:
            cursor += 1
        if cursor == len(arrivals):
            missing += 1
        else:
            latencies.append(arrivals[cursor][0] - stamp)
    return Latencies(latencies, missing, observer.hot_writes())


async def run_logger(store: fv.Store, events: list[fv.Verification], rate: float,
                     settings: fv.LoggerSettings) -> Latencies:
    """``log.record`` each event on one logger."""
    async with store.verifications.logger(settings) as log:

        async def send(event: fv.Verification) -> None:
            log.record(event)  # returns at once: the logger commits in the background

        return await _measure(store, events, rate, send)


async def run_naive(store: fv.Store, events: list[fv.Verification], rate: float) -> Latencies:
    """``Increment`` ``_metadata/stats`` directly for each event."""
    stats = store.collection("_metadata").document("stats")
    await stats.set({"total_verifications": 0})

    def send(event: fv.Verification) -> Awaitable[object]:
        return stats.update({"total_verifications": firestore.Increment(1),
                             f"{event.status.value}_count": firestore.Increment(1)})

    return await _measure(store, events, rate, send)


async def run(ctx: Context) -> list[Row]:
    """Benchmark 4 rows."""
    sizes = ctx.sizes
    n = max(5, round(sizes.watch_rate * sizes.watch_seconds))
    progress(f"4. write-to-watch, {n} events at ~{sizes.watch_rate:g}/s "
             f"(shards={SETTINGS.shards}, max_writes_per_second="
             f"{SETTINGS.max_writes_per_second:g}, burst={SETTINGS.burst})")
    async with ctx.project("watch") as store:
        logged = await run_logger(store, Workload(41).events(n), sizes.watch_rate, SETTINGS)
    naive_n = max(5, round(sizes.watch_rate * sizes.naive_watch_seconds))
    async with ctx.project("watch-naive") as store:
        naive = await run_naive(store, Workload(42).events(naive_n), sizes.watch_rate)
    progress(f"  logger p50 {logged.p(50) * 1000:.0f} ms p95 {logged.p(95) * 1000:.0f} ms, "
             f"naive p50 {naive.p(50) * 1000:.0f} ms p95 {naive.p(95) * 1000:.0f} ms, "
             f"hot doc {logged.hot.describe()}")
    label = f"4. write-to-watch @ ~{sizes.watch_rate:g} ev/s"
    p95_ratio = logged.p(95) / naive.p(95)
    rate_ok = logged.hot.peak <= SETTINGS.max_writes_per_second
    return [
        Row(f"{label}: logger settings",
            f"shards={SETTINGS.shards}, max_writes_per_second="
            f"{SETTINGS.max_writes_per_second:g}, burst={SETTINGS.burst}",
            values={"shards": SETTINGS.shards,
                    "max_writes_per_second": SETTINGS.max_writes_per_second,
                    "burst": SETTINGS.burst, "events": n, "naive_events": naive_n}),
        Row(f"{label}: p50", f"{logged.p(50) * 1000:.0f} ms", f"{naive.p(50) * 1000:.0f} ms",
            times(logged.p(50) / naive.p(50)),
            values={"logger": logged.p(50), "naive": naive.p(50)}),
        Row(f"{label}: p95", f"{logged.p(95) * 1000:.0f} ms", f"{naive.p(95) * 1000:.0f} ms",
            times(p95_ratio), f"< {TARGET_P95 * 1000:.0f} ms",
            logged.p(95) < TARGET_P95 and not logged.missing,
            values={"logger": logged.p(95), "naive": naive.p(95),
                    "missing": logged.missing, "naive_missing": naive.missing,
                    "logger_samples": logged.seconds}),
        Row(f"{label}: peak writes/s to one hot doc", logged.hot.describe(),
            f"naive {naive.hot.peak}/s ({naive.hot.document})", "-",
            f"<= {SETTINGS.max_writes_per_second:g}/s", rate_ok,
            values={"received_peak": logged.hot.peak, "document": logged.hot.document,
                    "min_gap_seconds": logged.hot.min_gap,
                    "min_gap_document": logged.hot.gap_document,
                    "naive_peak": naive.hot.peak, "naive_document": naive.hot.document}),
    ]
