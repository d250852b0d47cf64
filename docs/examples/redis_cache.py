"""The shared membership cache: two processes of one bot on one Redis.

Run it against any Redis: ``python docs/examples/redis_cache.py redis://localhost:6379/0``.
"""

import asyncio
import sys

import firestore_verify as fv
from firestore_verify.redis_cache import RedisMembershipCache

USER, NEWS = 7, -1009876543210


# --8<-- [start:shared]
async def main(redis_url: str) -> None:
    settings = fv.CacheSettings(positive_ttl=600, negative_ttl=60, jitter=0.15)
    # Each bot process builds its own cache object; they share what Redis holds.
    async with RedisMembershipCache.from_url(redis_url, settings) as first, \
            RedisMembershipCache.from_url(redis_url, settings) as second:
        await first.aset(USER, NEWS, False)  # the first process asked Telegram: not a member
        print("second process:", await second.aget(USER, NEWS))

        # The user joins the channel and presses "I have joined" in the first process:
        await first.ainvalidate(USER, [NEWS])
        await first.aset(USER, NEWS, True)
        print("second process:", await second.aget(USER, NEWS))  # at once, from Redis

        stats = second.stats
        print(f"cache: {second.status}, hit rate {stats.hit_rate:.0%}, "
              f"Redis errors {stats.redis_errors}")
# --8<-- [end:shared]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "redis://localhost:6379/0"))
