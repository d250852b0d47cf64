"""One process of benchmark 12: a bot's traffic for a while, then what it did.

``python -m bench.fleet_worker HOST PROJECT SECONDS SHARDS SEED RATE`` connects to
the emulator, enters a logger with shard leases, records ``RATE`` events per
second with ``put()`` (backpressure) for ``SECONDS`` once it holds a shard,
flushes, and prints one
JSON line: events taken and committed, when it started and stopped producing
and when everything was committed, and the wall-clock time each commit to a hot
document (counter shards, rollups) was sent.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import defaultdict
from typing import Any

import anyio

import firestore_verify as fv
from bench.harness import HOT_PREFIXES, WriteObserver

#: The active users, each speaking in GROUPS: the benchmark first logs one check of each
#: in each group, so that the fleet runs a steady day (users already seen today: their
#: user documents are not written again, and processes do not race for them).
USERS = 1_000
GROUPS = (-1001000000000, -1001000000001)


async def work(host: str, project: str, seconds: float, shards: int, seed: int,
               rate: float) -> dict[str, Any]:
    """Log ``rate`` events/s for ``seconds``; what was taken and committed, and the hot
    documents' writes."""
    rng = random.Random(seed)
    store = await fv.connect(project=project, emulator_host=host)
    try:
        with WriteObserver(store) as observer:
            async with store.verifications.logger(shards=shards, leases=True,
                                                  lease_seconds=6) as log:
                with anyio.fail_after(60):
                    # The pool is shared: wait for a lease (a property, no event to await).
                    while not log.health.shards:  # noqa: ASYNC110
                        await anyio.sleep(0.1)
                started = time.time()
                taken = 0
                while (elapsed := time.time() - started) < seconds:
                    # Events arrive at ``rate`` a second: send what is due, then wait a tick.
                    while taken < elapsed * rate:
                        await log.put(fv.Verification(
                            user_id=rng.randint(1, USERS),
                            group_id=rng.choice(GROUPS),
                            status=fv.Status.SUCCESS, cached=True))
                        taken += 1
                    await anyio.sleep(0.01)
                stopped = time.time()
                await log.flush()
                flushed = time.time()
            stats = log.stats
        # perf_counter stamps, made comparable across processes through this offset.
        offset = time.time() - time.perf_counter()
        hot: dict[str, list[float]] = defaultdict(list)
        for commit in observer.commits:
            for path in set(commit.documents):
                if path.startswith(HOT_PREFIXES):
                    hot[path].append(commit.sent + offset)
    finally:
        await store.close()
    return {"taken": taken, "committed": stats.committed, "started": started,
            "stopped": stopped, "flushed": flushed, "hot": hot}


def main(argv: list[str]) -> int:
    host, project, seconds, shards, seed, rate = argv
    result = anyio.run(work, host, project, float(seconds), int(shards), int(seed),
                       float(rate))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
