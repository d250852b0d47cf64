"""Benchmark 12: a fleet of 1, 2 and 4 logger processes sharing the shards through leases.

Each process (``bench.fleet_worker``, its own Python interpreter) is a bot
taking the same traffic, ``fleet_rate`` events per second, for the same number
of seconds, into one project, its logger holding the shard leases it gets (a
pool of 4). The figures: events per second stored by the whole fleet, from the
first event to the last commit (against the single process, same run: the
fleet takes more traffic, so it should store that much more), and the most
writes any one hot document received within one second from the whole fleet,
from every process's commit times (target: 1).

The pool's write budget (4 shards x 1 commit/s x 400 events) caps the fleet,
whatever the number of processes; so does the machine: the processes and the
emulator share its cores.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import anyio

import firestore_verify as fv
from bench.fleet_worker import GROUPS, USERS
from bench.harness import Context, Row, busiest, progress, rate, times

SHARDS = 4
ROOT = Path(__file__).resolve().parent.parent


async def _fleet(ctx: Context, size: int) -> tuple[float, float, int, int]:
    """Events/s taken, events/s stored, the peak writes/s to one document, events lost."""
    name = f"fleet{size}"
    project = ctx.project_id(name)
    async with ctx.project(name) as store:
        # A project the fleet ran in before: the shard count is announced already. (On a
        # brand-new project the first process creates _metadata/stats once, which may
        # land within a second of another process's first commit there.)
        async with store.verifications.logger(shards=SHARDS):
            pass
        # Earlier today every user spoke once in each group (see fleet_worker.USERS).
        await store.verifications.write_many([
            fv.Verification(user_id=user, group_id=group, status=fv.Status.SUCCESS)
            for user in range(1, USERS + 1) for group in GROUPS])
        seeded = len(GROUPS) * USERS
        command = [sys.executable, "-m", "bench.fleet_worker", ctx.emulator.host, project,
                   str(ctx.sizes.fleet_seconds), str(SHARDS)]
        rate = str(ctx.sizes.fleet_rate)
        outputs: list[bytes] = []

        async def worker(seed: int) -> None:
            done = await anyio.run_process([*command, str(seed), rate], cwd=ROOT, stderr=None)
            outputs.append(done.stdout)

        with anyio.fail_after(ctx.sizes.fleet_seconds + 180):
            async with anyio.create_task_group() as workers:
                for seed in range(size):
                    workers.start_soon(worker, seed)
        results = [json.loads(out.decode().strip().splitlines()[-1]) for out in outputs]
        stored = (await store.stats.get()).total_verifications - seeded
    taken = sum(r["taken"] for r in results)
    first = min(r["started"] for r in results)
    seconds = max(r["stopped"] for r in results) - first
    # Stored: until the last event was committed (the buffers absorb the producers' bursts).
    committing = max(r["flushed"] for r in results) - first
    hot: dict[str, list[float]] = defaultdict(list)
    for result in results:
        for path, stamps in result["hot"].items():
            hot[path].extend(stamps)
    peak = busiest(hot).peak
    return taken / seconds, stored / committing, peak, taken - stored


async def run(ctx: Context) -> list[Row]:
    """Throughput of each fleet size against one process, and its busiest document."""
    rows: list[Row] = []
    single: float | None = None
    for size in ctx.sizes.fleet_sizes:
        progress(f"12. a fleet of {size} logger processes, {ctx.sizes.fleet_rate:g} events/s "
                 f"each for {ctx.sizes.fleet_seconds:g} s")
        started = time.perf_counter()
        taken, stored, peak, lost = await _fleet(ctx, size)
        single = stored if single is None else single
        label = (f"12. fleet of {size} process{'es' if size > 1 else ''} at "
                 f"{ctx.sizes.fleet_rate:g} ev/s each, {SHARDS} leased shards")
        rows.append(Row(
            benchmark=f"{label}: events/s stored",
            figure=f"{rate(stored)} (taken {rate(taken)})",
            baseline=f"1 process {rate(single)}" if size > 1 else "-",
            ratio=times(stored / single) if size > 1 and single else "-",
            values={"taken_per_second": taken, "stored_per_second": stored,
                    "seconds": time.perf_counter() - started},
        ))
        rows.append(Row(
            benchmark=f"{label}: peak writes/s to one hot doc, whole fleet",
            figure=f"{peak}/s",
            target="<= 1/s",
            met=peak <= 1,
            values={"peak": peak},
        ))
        rows.append(Row(
            benchmark=f"{label}: events taken - counted",
            figure=str(lost),
            target="0",
            met=lost == 0,
            values={"lost": lost},
        ))
    return rows
