"""Who administers each group: asked once, remembered for a few minutes.

Admins (and the creator) are never checked nor muted. The list is refreshed after
``ttl`` seconds, and at once when a ``chat_member`` update shows someone promoted
or demoted.
"""

from __future__ import annotations

import logging
import time

from telegram import Bot
from telegram.error import TelegramError

from fsv_bot.metrics import Metrics

__all__ = ["AdminCache"]

log = logging.getLogger("fsv_bot.admins")


class AdminCache:
    """``group_id -> admin user ids``, each list kept ``ttl`` seconds."""

    def __init__(self, metrics: Metrics, *, ttl: float = 300.0) -> None:
        self._metrics = metrics
        self._ttl = ttl
        self._admins: dict[int, tuple[frozenset[int], float]] = {}

    async def is_admin(self, bot: Bot, group_id: int, user_id: int) -> bool:
        """Whether ``user_id`` administers ``group_id`` (``False`` if Telegram cannot say)."""
        entry = self._admins.get(group_id)
        if entry is None or entry[1] <= time.monotonic():
            try:
                members = await bot.get_chat_administrators(group_id)
            except TelegramError as exc:
                # Not knowing makes the user an ordinary member; Telegram itself refuses
                # to restrict a real admin, so the worst case is a logged failed mute.
                error_type = type(exc).__name__
                self._metrics.api_errors.labels(
                    method="getChatAdministrators", error_type=error_type
                ).inc()
                log.warning("could not list admins: %s", exc,
                            extra={"group_id": group_id, "error_type": error_type})
                return False
            entry = (frozenset(m.user.id for m in members), time.monotonic() + self._ttl)
            self._admins[group_id] = entry
        return user_id in entry[0]

    def invalidate(self, group_id: int) -> None:
        """Forget ``group_id``'s admins (someone was promoted or demoted)."""
        self._admins.pop(group_id, None)
