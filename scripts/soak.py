"""``make soak``: the simulated bot under a schedule of network faults, then a recount.

The reference bot runs on the local Bot API server with endless simulated
traffic; its Firestore connection goes through a :class:`FaultProxy` that, on a
fixed schedule, adds seconds of latency, drops connections mid-call, swallows
responses of commits that landed (ambiguous commits), refuses connections and
goes silent. At the end the network heals, the bot's logger drains, and
everything is recounted from the stored events on a direct connection:

    events taken / stored / lost / duplicated, counters and rollups against a
    recount, and the process's memory at the start and the end.

Exits non-zero when anything was lost or counted twice. ``--minutes`` bounds it
(about ten by default); it always stops by itself.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fsv_bot.simulate import SimulationConfig, simulated_bot

import firestore_verify as fv
from firestore_verify.testing import FaultProxy, FirestoreEmulator


@dataclass
class SoakReport:
    """What the soak run measured."""

    minutes: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    events_taken: int = 0
    events_stored: int = 0
    lost: int = 0
    duplicated: int = 0
    counters: dict[str, Any] = field(default_factory=dict)
    rollups: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    rss_mib_start: float = 0.0
    rss_mib_end: float = 0.0
    #: Heap held by the library and the bot (the fake Telegram server's records left
    #: out: it keeps every call and message by design), after warm-up and at the end.
    heap_mib_start: float = 0.0
    heap_mib_end: float = 0.0
    #: Where the heap grew most between warm-up and the end (source line: KiB).
    heap_growth: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing counted twice, counters and rollups equal the recount."""
        return (self.lost == 0 and self.duplicated == 0
                and self.counters.get("equal") is True and self.rollups.get("equal") is True)


def rss_mib() -> float:
    """This process's resident memory, in MiB (after a collection, for a fair comparison)."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


#: The fake Bot API server keeps every call and message: its memory is not the bot's.
_NOT_THE_BOT = [tracemalloc.Filter(False, "*fake_*.py", all_frames=True),
                tracemalloc.Filter(False, "*testing/faults.py", all_frames=True),
                tracemalloc.Filter(False, tracemalloc.__file__)]


def heap() -> tracemalloc.Snapshot:
    """What is allocated since tracing began and still held, outside the test fakes."""
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces(_NOT_THE_BOT)


def mib(snapshot: tracemalloc.Snapshot) -> float:
    """A snapshot's total, in MiB."""
    return round(sum(stat.size for stat in snapshot.statistics("filename")) / 2**20, 1)


#: One round of the schedule: (name, how to apply it, seconds it lasts).
def schedule(proxy: FaultProxy) -> list[tuple[str, Callable[[], object], float]]:
    """The faults, in order; the run cycles through them until its time is up."""
    return [
        ("healthy", proxy.healthy, 20.0),
        ("latency 2s", lambda: proxy.latency(2.0), 10.0),
        ("healthy", proxy.healthy, 10.0),
        ("connections reset", proxy.reset_connections, 5.0),
        ("ambiguous commits", lambda: proxy.drop_responses_then_reset(after=1.0), 4.0),
        ("healthy", proxy.healthy, 10.0),
        ("outage (refused)", proxy.refuse, 15.0),
        ("healthy", proxy.healthy, 10.0),
        ("silent network", proxy.blackhole, 8.0),
    ]


async def inject(proxy: FaultProxy, report: SoakReport, until: float) -> None:
    """Apply the schedule round after round until ``until`` (monotonic), then heal."""
    try:
        while True:
            for name, apply, seconds in schedule(proxy):
                if time.monotonic() >= until:
                    return
                apply()
                report.faults[name] = report.faults.get(name, 0) + 1
                print(f"  {time.strftime('%H:%M:%S')} {name} for {seconds:g}s", flush=True)
                await anyio.sleep(min(seconds, max(0.0, until - time.monotonic())))
    finally:
        proxy.healthy()


async def warmed_up(report: SoakReport, after: float,
                    start: list[tracemalloc.Snapshot]) -> None:
    """Take the starting heap figure once caches and buffers have filled."""
    await anyio.sleep(after)
    start.append(heap())
    report.heap_mib_start = mib(start[0])


async def recount(store: fv.Store, report: SoakReport) -> None:
    """Compare what was taken with what is stored, and the counters and rollups with both."""
    statuses: Counter[str] = Counter()
    users: set[int] = set()
    ids: set[str] = set()
    async for event in store.verifications.iterate():
        ids.add(event.id)
        statuses[event.status.value] += 1
        users.add(event.user_id)
    report.events_stored = len(ids)
    report.lost = max(0, report.events_taken - report.events_stored)
    stats = await store.stats.get()
    counted = {"total_verifications": stats.total_verifications,
               "success_count": stats.success_count, "failed_count": stats.failed_count,
               "error_count": stats.error_count, "total_users": stats.total_users}
    truth = {"total_verifications": len(ids), "success_count": statuses["success"],
             "failed_count": statuses["failed"], "error_count": statuses["error"],
             "total_users": len(users)}
    report.duplicated = max(0, stats.total_verifications - len(ids))
    report.counters = {"equal": counted == truth, "counted": counted, "recount": truth}
    summary = await store.analytics.summary("7d")
    rolled = {"total": summary.counts.total, "success": summary.counts.success,
              "failed": summary.counts.failed, "error": summary.counts.error,
              "new_users": summary.new_users}
    expected = {"total": len(ids), "success": statuses["success"],
                "failed": statuses["failed"], "error": statuses["error"],
                "new_users": len(users)}
    report.rollups = {"equal": rolled == expected, "rolled_up": rolled, "recount": expected}


async def soak(minutes: float, rate: float, seed: int) -> SoakReport:
    """Run the bot under the fault schedule for ``minutes``, then recount."""
    report = SoakReport(minutes=minutes)
    project = f"soak-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        emulator = stack.enter_context(FirestoreEmulator())
        proxy = stack.enter_context(FaultProxy(emulator.host))
        direct = await fv.connect(project=project, emulator_host=emulator.host)
        # Short deadlines: calls fail fast during the faults and are retried by the logger.
        through = await fv.connect(project=project, emulator_host=proxy.host,
                                   timeout=10, attempt_timeout=3)
        config = SimulationConfig(groups=5, users=300, messages=0, rate=rate, seed=seed)
        events: fv.VerificationLogger | None = None
        start: list[tracemalloc.Snapshot] = []
        try:
            async with simulated_bot(through, config) as simulation:
                tracemalloc.start(8)
                report.rss_mib_start = rss_mib()
                print(f"soak: {minutes:g} min, {rate:g} messages/s, project {project}",
                      flush=True)
                until = time.monotonic() + minutes * 60
                async with anyio.create_task_group() as tg:
                    tg.start_soon(inject, proxy, report, until)
                    tg.start_soon(warmed_up, report, min(60.0, minutes * 60 / 4), start)

                    async def traffic() -> None:
                        with anyio.move_on_after(minutes * 60):
                            await simulation.run()

                    tg.start_soon(traffic)
                proxy.healthy()
                # The updates still queued are handled (and logged) before the bot stops.
                await simulation.settle(within=300)
                report.messages = simulation.report.messages
                events = simulation.runtime.events
                report.logger = {"health": events.health.model_dump(mode="json")}
            # Leaving the bot closed its logger, which drained every accepted event.
        except fv.FlushTimeoutError as exc:
            print(f"the logger could not drain: {len(exc.unwritten)} events unwritten")
        finally:
            await through.close()
        if events is not None:
            report.events_taken = events.stats.recorded
            report.logger["stats"] = events.stats.model_dump()
        report.rss_mib_end = rss_mib()
        end = heap()
        report.heap_mib_end = mib(end)
        if start:
            report.heap_growth = {
                str(stat.traceback[0]): round(stat.size_diff / 1024, 1)
                for stat in end.compare_to(start[0], "lineno")[:8] if stat.size_diff > 0}
        tracemalloc.stop()
        try:
            await recount(direct, report)
        finally:
            await direct.close()
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its report; exit 1 when anything was lost or doubled."""
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0, help="messages per second")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    report = anyio.run(soak, options.minutes, options.rate, options.seed)
    print(json.dumps(asdict(report), indent=2, default=str))
    print(f"\nevents taken {report.events_taken}, stored {report.events_stored}, "
          f"lost {report.lost}, duplicated {report.duplicated}; counters "
          f"{'equal' if report.counters['equal'] else 'DIFFER'} and rollups "
          f"{'equal' if report.rollups['equal'] else 'DIFFER'} to the recount; library and "
          f"bot heap {report.heap_mib_start} MiB after warm-up, {report.heap_mib_end} MiB "
          f"at the end (process RSS {report.rss_mib_start} -> {report.rss_mib_end} MiB, "
          "the fake Telegram server's records included).")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
