"""One process of benchmark 12: log events as fast as it can for a while, print what it did.

``python -m bench.fleet_worker HOST PROJECT SECONDS SHARDS SEED`` connects to the
emulator, enters a logger with shard leases, records events with ``put()``
(backpressure) for ``SECONDS`` once it holds a shard, flushes, and prints one
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

#: The active users, each speaking in 2 groups: after the first few seconds most checks
#: are of users already seen today, as in a steady day (their user documents are then
#: not written again, so processes rarely race for one).
USERS = 1_000


async def work(host: str, project: str, seconds: float, shards: int, seed: int) -> dict[str, Any]:
    """Log for ``seconds``; what was taken and committed, and the hot documents' writes."""
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
                while time.time() - started < seconds:
                    await log.put(fv.Verification(
                        user_id=rng.randint(1, USERS), group_id=-1001000000000 - rng.randint(0, 1),
                        status=fv.Status.SUCCESS, cached=True))
                    taken += 1
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
    host, project, seconds, shards, seed = argv
    result = anyio.run(work, host, project, float(seconds), int(shards), int(seed))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
