"""A realistic mix of verification events: ~2,000 users, ~20 groups, mixed statuses.

Each user has a home group (where most of their checks happen) and now and then
shows up in another one; outcomes are mostly successes, with failures and a few
Telegram API errors. Seeded, so every run logs the same events.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import firestore_verify as fv

USERS = 2_000
GROUPS = 20
_FIRST_USER = 500_000_000
_FIRST_GROUP = -1_001_700_000_000
_FIRST_CHANNEL = -1_002_900_000_000
_STATUSES = (fv.Status.SUCCESS, fv.Status.FAILED, fv.Status.ERROR)
_STATUS_WEIGHTS = (78, 18, 4)
_ERRORS = ("TelegramRetryAfter", "TelegramBadRequest", "TelegramNetworkError")


def window_start(now: datetime, days: int) -> datetime:
    """Midnight UTC that starts a ``days``-day analytics window ending today."""
    first = (now - timedelta(days=days - 1)).date()
    return datetime(first.year, first.month, first.day, tzinfo=timezone.utc)


class Workload:
    """Makes events; ``spread_days=0`` stamps them now, else spread over that many UTC days."""

    def __init__(self, seed: int = 0, *, spread_days: int = 0,
                 now: datetime | None = None, users: int = USERS, groups: int = GROUPS) -> None:
        self._random = random.Random(seed)
        self._users = users
        self._groups = groups
        self.now = now or datetime.now(timezone.utc)
        self._start = window_start(self.now, spread_days) if spread_days else self.now

    def user_id(self, index: int) -> int:
        """The Telegram id of user ``index``."""
        return _FIRST_USER + index

    def group_id(self, index: int) -> int:
        """The Telegram id of group ``index`` (the events' groups are ``0 .. groups - 1``)."""
        return _FIRST_GROUP - index

    def event(self) -> fv.Verification:
        """One event."""
        rnd = self._random
        user = rnd.randrange(self._users)
        group = user % self._groups if rnd.random() < 0.9 else rnd.randrange(self._groups)
        status = rnd.choices(_STATUSES, _STATUS_WEIGHTS)[0]
        span = (self.now - self._start).total_seconds()
        return fv.Verification(
            user_id=self.user_id(user),
            group_id=_FIRST_GROUP - group,
            channel_id=_FIRST_CHANNEL - group * 2 - rnd.randrange(2),
            status=status,
            latency_ms=round(rnd.lognormvariate(4.5, 0.6), 1),
            cached=status is fv.Status.SUCCESS and rnd.random() < 0.6,
            error_type=rnd.choice(_ERRORS) if status is fv.Status.ERROR else None,
            occurred_at=self._start + timedelta(seconds=rnd.uniform(0, span)) if span
            else datetime.now(timezone.utc),
        )

    def events(self, n: int) -> list[fv.Verification]:
        """``n`` events."""
        return [self.event() for _ in range(n)]
