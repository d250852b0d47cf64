"""Take Redis away mid-run: the shared cache degrades to memory, then recovers by itself.

Needs ``redis-server`` (Debian's package, or ``FIRESTORE_VERIFY_REDIS_SERVER``):
``python docs/examples/redis_degraded.py``.
"""

import anyio

from firestore_verify.redis_cache import RedisMembershipCache
from firestore_verify.testing import RedisServer


# --8<-- [start:degraded]
async def main() -> None:
    with RedisServer() as redis:
        async with RedisMembershipCache.from_url(redis.url) as cache:
            redis.stop()
            print("while Redis is down:", await cache.aget(7, -1001))  # memory, no exception
            print("degraded:", cache.degraded)
            redis.start()
            for _ in range(200):  # 10 s at most: its listener reconnects with no traffic
                if not cache.degraded:
                    break
                await anyio.sleep(0.05)
            print("back:", cache.status)
# --8<-- [end:degraded]


if __name__ == "__main__":
    anyio.run(main)
