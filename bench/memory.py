"""Benchmark 5: peak memory of the logger while 100k events pass through it.

tracemalloc's peak from the first ``put()`` until the logger has flushed the last
event (producers make each event just before handing it over, so only what the
logger keeps counts), against the baseline of holding the same number of
``Verification`` objects in a list.
"""

from __future__ import annotations

import tracemalloc

import anyio
import anyio.lowlevel

import firestore_verify as fv
from bench.harness import Context, Row, Stopwatch, count_label, mib, progress, rate, times
from bench.logging_throughput import CHOSEN, describe
from bench.workload import Workload


def _baseline(n: int) -> int:
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        events = Workload(51).events(n)
        peak = tracemalloc.get_traced_memory()[1] - start
        del events
    finally:
        tracemalloc.stop()
    return peak


async def _logger_peak(store: fv.Store, n: int, settings: fv.LoggerSettings) -> tuple[int, float]:
    workload = Workload(52)
    await store.stats.get()  # the gRPC channel exists before tracing starts
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        with Stopwatch() as sw:
            async with store.verifications.logger(settings) as log:
                for i in range(n):
                    await log.put(workload.event())
                    if i % 100 == 0:
                        await anyio.lowlevel.checkpoint()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return peak, sw.seconds


async def run(ctx: Context) -> list[Row]:
    """Benchmark 5 rows."""
    n = ctx.sizes.memory_events
    settings = CHOSEN
    progress(f"5. memory: {n:,} events through the logger ({describe(settings)}), tracemalloc")
    baseline = _baseline(n)
    async with ctx.project("memory") as store:
        peak, seconds = await _logger_peak(store, n, settings)
        total = (await store.stats.get()).total_verifications
    progress(f"  logger peak {mib(peak)} in {seconds:.0f}s ({rate(n / seconds)} traced), "
             f"list of {n:,} events {mib(baseline)}, counted {total:,}")
    return [Row(
        f"5. peak memory, {count_label(n)} events through the logger",
        mib(peak), f"{mib(baseline)} (list of events)", times(peak / baseline),
        f"< baseline (buffer_size={settings.buffer_size:,})",
        peak < baseline and total == n,
        values={"logger_peak_bytes": peak, "baseline_bytes": baseline, "ratio": peak / baseline,
                "events": n, "counted": total, "seconds": seconds,
                "buffer_size": settings.buffer_size})]
