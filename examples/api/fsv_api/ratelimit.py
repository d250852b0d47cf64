"""Rate limits with the ``limits`` library: in memory by default, on Redis when configured.

Sign-ins are limited per client IP, reads and writes per admin. A Redis that cannot
be reached does not take the API down: the request goes through and the failure
is logged (and counted in the metrics).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from fsv_api.problems import RateLimited
from fsv_api.settings import ApiSettings

__all__ = ["Kind", "RateLimits"]

log = logging.getLogger("fsv_api.ratelimit")

#: What a limit counts: sign-ins per IP, reads and writes per admin.
Kind = Literal["signin", "read", "write"]


class RateLimits:
    """The API's three limits on one storage."""

    def __init__(self, settings: ApiSettings) -> None:
        self.storage: Storage = (
            RedisStorage(f"async+{settings.redis_url}", implementation="redispy")
            if settings.redis_url else MemoryStorage()
        )
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._items: dict[Kind, RateLimitItem] = {
            "signin": parse(settings.signin_rate),
            "read": parse(settings.read_rate),
            "write": parse(settings.write_rate),
        }
        #: Storage failures let through (the limit could not be checked).
        self.storage_errors = 0

    async def hit(self, kind: Kind, who: str) -> None:
        """Count one request of ``who``; raise :class:`RateLimited` past the limit."""
        item = self._items[kind]
        try:
            allowed = await self._limiter.hit(item, kind, who)
            if allowed:
                return
            window = await self._limiter.get_window_stats(item, kind, who)
        except Exception as exc:  # a storage outage must not become a 500
            self.storage_errors += 1
            log.warning("rate limit storage failed, letting the request through: %s", exc)
            return
        raise RateLimited(max(1, math.ceil(window.reset_time - time.time())))
