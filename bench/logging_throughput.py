"""Benchmark 1: logging events from concurrent producers.

Three contenders log the same events (``Workload``: ~2,000 users, ~20 groups)
from ``producers`` concurrent tasks, each on a fresh project:

* the logger: every producer calls ``await log.put(event)`` on one
  ``store.verifications.logger(settings)``, yielding to the others after each
  event as a bot handler would; timed until ``log.flush()`` returns, every event
  committed while the logger runs (so under its write-rate limits: on leaving
  ``async with`` the logger flushes what is left without them);
* naive: ``collection.add()`` per event, then one ``Increment`` update of
  ``_metadata/stats`` per event;
* ceiling: bare atomic batches of 500 create-only event documents
  (``Verification.to_document()``), no counters, rollups nor user documents,
  as many batches in flight as there are producers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
from google.cloud import firestore

import firestore_verify as fv
from bench.harness import (
    Context,
    CpuMeter,
    HotWrites,
    Row,
    Stopwatch,
    WriteObserver,
    count_label,
    median,
    progress,
    rate,
    times,
)
from bench.workload import Workload

#: The settings `make bench` reports, chosen with `python -m bench --sweep` (see SWEEP).
#: One write per second per hot document is what production sustains, so the shards
#: carry the throughput: 16 shards x 1 commit/s (burst 1). Shards x 2/s or burst 2
#: were faster here, but write hot documents more often than production allows.
CHOSEN = fv.LoggerSettings(shards=16, max_writes_per_second=1, burst=1)

#: Configurations `--sweep` compares.
SWEEP = (
    fv.LoggerSettings(shards=1, max_writes_per_second=1, burst=1),
    fv.LoggerSettings(shards=8, max_writes_per_second=1, burst=1),
    fv.LoggerSettings(shards=16, max_writes_per_second=1, burst=1),
    fv.LoggerSettings(shards=32, max_writes_per_second=1, burst=1),
    fv.LoggerSettings(shards=8, max_writes_per_second=2, burst=1),
    fv.LoggerSettings(shards=16, max_writes_per_second=2, burst=1),
    fv.LoggerSettings(shards=8, max_writes_per_second=2, burst=2),
)

CEILING_BATCH = 500


def describe(settings: fv.LoggerSettings) -> str:
    """The settings that matter here, short."""
    return (f"shards={settings.shards}, max_writes_per_second="
            f"{settings.max_writes_per_second:g}, burst={settings.burst}")


@dataclass
class Run:
    """One contender's run."""

    events: int
    seconds: float
    #: The busiest hot document, as Firestore received its writes.
    hot: HotWrites
    commits: int
    #: Documents written, by collection.
    writes: dict[str, int]
    total_counted: int | None = None
    #: The logger's own account: most commits it dispatched to one shard within a second.
    dispatched_peak: int | None = None
    #: CPU seconds of this process (client) and of the emulator during the run.
    client_cpu: float = 0.0
    emulator_cpu: float | None = None

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    @property
    def writes_per_event(self) -> float:
        return sum(self.writes.values()) / self.events


async def _producers(count: int, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(work)


async def run_logger(store: fv.Store, events: Sequence[fv.Verification], producers: int,
                     settings: fv.LoggerSettings, emulator_pid: int | None = None) -> Run:
    """Log ``events`` through one logger from ``producers`` tasks; timed until committed."""
    queue = iter(events)
    async with store.verifications.logger(settings) as log:
        with WriteObserver(store) as observer, CpuMeter(emulator_pid) as cpu, Stopwatch() as sw:

            async def producer() -> None:
                for event in queue:
                    await log.put(event)
                    await anyio.lowlevel.checkpoint()  # a handler awaits other work between checks

            await _producers(producers, producer)
            # Timed until committed while the logger runs, under its write-rate limits:
            # leaving the block would flush the rest at once, without them.
            await log.flush()
    total = (await store.stats.get()).total_verifications
    return Run(len(events), sw.seconds, observer.hot_writes(), len(observer.commits),
               observer.writes_by_collection(), total,
               getattr(log.stats, "peak_writes_per_second", None), cpu.client, cpu.emulator)


async def run_naive(store: fv.Store, events: Sequence[fv.Verification], producers: int,
                    emulator_pid: int | None = None) -> Run:
    """``add()`` each event, then ``Increment`` ``_metadata/stats``, from ``producers`` tasks."""
    collection = store.collection("verifications")
    stats = store.collection("_metadata").document("stats")
    await stats.set({"total_verifications": 0})
    queue = iter(events)

    async def producer() -> None:
        for event in queue:
            await collection.add(event.to_document())
            await stats.update({
                "total_verifications": firestore.Increment(1),
                f"{event.status.value}_count": firestore.Increment(1),
            })

    with WriteObserver(store) as observer, CpuMeter(emulator_pid) as cpu, Stopwatch() as sw:
        await _producers(producers, producer)
    return Run(len(events), sw.seconds, observer.hot_writes(), len(observer.commits),
               observer.writes_by_collection(), client_cpu=cpu.client, emulator_cpu=cpu.emulator)


async def run_ceiling(store: fv.Store, events: Sequence[fv.Verification], producers: int,
                      emulator_pid: int | None = None) -> Run:
    """Bare create-only batches of 500 event documents, ``producers`` in flight."""
    collection = store.collection("verifications")
    chunks: Iterator[Sequence[fv.Verification]] = (
        events[i:i + CEILING_BATCH] for i in range(0, len(events), CEILING_BATCH)
    )

    async def producer() -> None:
        for chunk in chunks:
            batch = store.client.batch()
            for event in chunk:
                batch.create(collection.document(event.id), event.to_document())
            await batch.commit()

    with WriteObserver(store) as observer, CpuMeter(emulator_pid) as cpu, Stopwatch() as sw:
        await _producers(producers, producer)
    return Run(len(events), sw.seconds, observer.hot_writes(), len(observer.commits),
               observer.writes_by_collection(), client_cpu=cpu.client, emulator_cpu=cpu.emulator)


async def logger_vs_ceiling(ctx: Context, settings: fv.LoggerSettings, repeats: int,
                            seed: int) -> tuple[list[Run], list[Run]]:
    """Alternate logger and ceiling runs ``repeats`` times, each on a fresh project."""
    sizes = ctx.sizes
    loggers: list[Run] = []
    ceilings: list[Run] = []
    for i in range(repeats):
        events = Workload(seed + i).events(sizes.log_events)
        async with ctx.project(f"log-{seed}-{i}") as store:
            loggers.append(await run_logger(store, events, sizes.producers, settings,
                                            ctx.emulator.pid))
        async with ctx.project(f"ceiling-{seed}-{i}") as store:
            ceilings.append(await run_ceiling(store, events, sizes.producers, ctx.emulator.pid))
        last = loggers[-1]
        progress(f"  logger {rate(last.per_second)} in {last.commits} commits (hot doc "
                 f"{last.hot.describe()}, dispatched {last.dispatched_peak}/s), "
                 f"ceiling {rate(ceilings[-1].per_second)}")
    return loggers, ceilings


async def warm_up(ctx: Context) -> None:
    """Untimed: give the emulator's JIT the same kind of work first."""
    remaining = ctx.sizes.warmup_events
    seed = 900
    while remaining > 0:
        n = min(remaining, ctx.sizes.log_events)
        events = Workload(seed).events(n)
        async with ctx.project(f"warmup-{seed}") as store:
            await run_logger(store, events, ctx.sizes.producers, CHOSEN)
        async with ctx.project(f"warmup-ceiling-{seed}") as store:
            await run_ceiling(store, events, ctx.sizes.producers)
        remaining -= 2 * n
        seed += 1


async def run(ctx: Context) -> list[Row]:
    """Benchmark 1 rows."""
    sizes = ctx.sizes
    n = sizes.log_events
    progress(f"1. logging {n:,} events from {sizes.producers} producers ({describe(CHOSEN)})")
    loggers, ceilings = await logger_vs_ceiling(ctx, CHOSEN, sizes.log_repeats, seed=1)
    async with ctx.project("naive") as store:
        naive = await run_naive(store, Workload(1).events(n), sizes.producers, ctx.emulator.pid)
    progress(f"  naive {rate(naive.per_second)}")

    logger_rate = median([r.per_second for r in loggers])
    ceiling_rate = median([r.per_second for r in ceilings])
    vs_naive = logger_rate / naive.per_second
    vs_ceiling = logger_rate / ceiling_rate
    label = f"1. log {count_label(n)} events, {sizes.producers} producers"
    busiest = max(loggers, key=lambda r: (r.hot.peak, -r.hot.min_gap))
    dispatched = max((r.dispatched_peak or 0) for r in loggers)
    counted = [r.total_counted for r in loggers]
    typical = sorted(loggers, key=lambda r: r.per_second)[len(loggers) // 2]
    detail = ", ".join(f"{name} {count / n:.2f}" for name, count in typical.writes.items())
    limit = CHOSEN.max_writes_per_second
    bare = sorted(ceilings, key=lambda r: r.per_second)[len(ceilings) // 2]
    return [
        Row(f"{label}: logger settings", describe(CHOSEN),
            values={"shards": CHOSEN.shards, "max_writes_per_second": limit,
                    "burst": CHOSEN.burst, "max_batch_events": CHOSEN.max_batch_events}),
        Row(f"{label}: logger vs naive", rate(logger_rate), rate(naive.per_second),
            times(vs_naive), ">= 15x", vs_naive >= 15,
            values={"logger_events_per_second": logger_rate,
                    "naive_events_per_second": naive.per_second, "ratio": vs_naive,
                    "logger_runs": [r.per_second for r in loggers]}),
        Row(f"{label}: logger vs bare batches", rate(logger_rate), rate(ceiling_rate),
            f"{vs_ceiling:.0%}", ">= 70%", vs_ceiling >= 0.70,
            values={"logger_events_per_second": logger_rate,
                    "ceiling_events_per_second": ceiling_rate, "ratio": vs_ceiling,
                    "ceiling_runs": [r.per_second for r in ceilings]}),
        Row(f"{label}: bare batches vs naive (the most batching can give)",
            rate(ceiling_rate), rate(naive.per_second), times(ceiling_rate / naive.per_second),
            values={"ratio": ceiling_rate / naive.per_second}),
        Row(f"{label}: CPU per 1k events, client / emulator",
            f"logger {cpu_per_k(typical)}", f"bare {cpu_per_k(bare)}; naive {cpu_per_k(naive)}",
            times(typical.client_cpu / bare.client_cpu) + " client",
            values={"logger_client_seconds": typical.client_cpu,
                    "logger_emulator_seconds": typical.emulator_cpu,
                    "ceiling_client_seconds": bare.client_cpu,
                    "ceiling_emulator_seconds": bare.emulator_cpu,
                    "naive_client_seconds": naive.client_cpu,
                    "naive_emulator_seconds": naive.emulator_cpu,
                    "logger_client_bound_events_per_second": n / typical.client_cpu}),
        Row(f"{label}: peak writes/s to one hot doc",
            f"{busiest.hot.describe()}; logger dispatched {dispatched}/s",
            f"naive {naive.hot.peak}/s ({naive.hot.document})", "-", f"<= {limit:g}/s",
            busiest.hot.peak <= limit,
            values={"received_peak": busiest.hot.peak, "document": busiest.hot.document,
                    "min_gap_seconds": busiest.hot.min_gap,
                    "min_gap_document": busiest.hot.gap_document,
                    "dispatched_peak": dispatched,
                    "runs": [[r.hot.peak, r.hot.min_gap] for r in loggers],
                    "naive_peak": naive.hot.peak, "naive_document": naive.hot.document}),
        Row(f"{label}: docs written per event",
            f"{typical.writes_per_event:.2f} in {typical.commits} commits ({detail})",
            f"{ceilings[0].writes_per_event:.2f} in {ceilings[0].commits} commits (bare)",
            times(typical.writes_per_event / ceilings[0].writes_per_event),
            values={"logger_writes": typical.writes, "logger_commits": typical.commits,
                    "ceiling_writes": ceilings[0].writes, "ceiling_commits": ceilings[0].commits,
                    "naive_writes": naive.writes, "naive_commits": naive.commits}),
        Row(f"{label}: counters == events", ", ".join(f"{c:,} == {n:,}" for c in counted),
            target="equal", met=all(c == n for c in counted),
            values={"total_verifications": counted, "events": n}),
    ]


def cpu_per_k(run: Run) -> str:
    """``client 310 ms / emulator 150 ms`` per 1,000 events."""
    client = f"{run.client_cpu / run.events * 1e6:.0f} ms"
    emulator = ("?" if run.emulator_cpu is None
                else f"{run.emulator_cpu / run.events * 1e6:.0f} ms")
    return f"{client} / {emulator}"


async def sweep(ctx: Context) -> list[Row]:
    """``--sweep``: every configuration of ``SWEEP`` against the ceiling (median of repeats)."""
    rows = []
    for index, settings in enumerate(SWEEP):
        progress(f"sweep {describe(settings)}")
        loggers, ceilings = await logger_vs_ceiling(ctx, settings, ctx.sizes.log_repeats,
                                                    seed=100 + index * 10)
        logger_rate = median([r.per_second for r in loggers])
        ceiling_rate = median([r.per_second for r in ceilings])
        peak = max(r.hot.peak for r in loggers)
        gap = min(r.hot.min_gap for r in loggers)
        dispatched = max((r.dispatched_peak or 0) for r in loggers)
        rows.append(Row(f"sweep: {describe(settings)}", rate(logger_rate), rate(ceiling_rate),
                        f"{logger_rate / ceiling_rate:.0%}",
                        f"hot doc {peak}/s (closest {gap:.2f}s), dispatched {dispatched}/s",
                        values={"logger": logger_rate, "ceiling": ceiling_rate, "peak": peak,
                                "min_gap": gap, "dispatched": dispatched,
                                "logger_runs": [r.per_second for r in loggers],
                                "ceiling_runs": [r.per_second for r in ceilings]}))
    return rows
