"""The dataset benchmarks 2 and 3 share: one project whose events grow 1k -> 10k -> 100k.

Events are spread over the 30 UTC days that end today (``Workload(spread_days=30)``)
and written with ``store.verifications.write_many`` (events, counters and rollups
together, exactly once). Users are split into disjoint slices written
concurrently: a user's state document is only ever written by one slice, so
concurrent slices never conflict.
"""

from __future__ import annotations

import anyio

import firestore_verify as fv
from bench.harness import Stopwatch, progress, rate
from bench.workload import Workload

#: Concurrent ``write_many`` calls while filling.
SLICES = 4
#: Days the events are spread over (the summary's period).
DAYS = 30


class Dataset:
    """A store whose ``verifications`` grow on demand."""

    def __init__(self, store: fv.Store, seed: int = 7) -> None:
        self.store = store
        self.workload = Workload(seed, spread_days=DAYS)
        self.size = 0
        #: Seconds spent filling, in total.
        self.fill_seconds = 0.0

    async def grow_to(self, size: int) -> None:
        """Write events until there are ``size`` of them."""
        events = self.workload.events(size - self.size)
        slices: list[list[fv.Verification]] = [[] for _ in range(SLICES)]
        for event in events:
            slices[event.user_id % SLICES].append(event)
        with Stopwatch() as sw:
            async with anyio.create_task_group() as tg:
                for part in slices:
                    tg.start_soon(self.store.verifications.write_many, part)
        self.size = size
        self.fill_seconds += sw.seconds
        progress(f"  dataset grown to {size:,} events (+{len(events):,} at "
                 f"{rate(len(events) / sw.seconds)})")
