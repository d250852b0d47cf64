"""Daily rollups and per-user first-seen state: the plan of one event batch.

Pure functions, no I/O: given events and what is known of their users, say
which documents one atomic batch must write. The verification logger and the
SQL migration both commit such plans, so events, counters and rollups always
land together.

Documents (collection names get the store prefix):

* ``rollups_daily/{YYYY-MM-DD}``: ``day``, ``date``, ``total``, ``success``,
  ``failed``, ``error``, ``unique_users``, ``new_users``, and ``hours``
  (``"00"``..``"23"`` -> counts by status).
* ``rollups_group_daily/{group_id}_{YYYY-MM-DD}``: ``group_id``, ``day``,
  ``date``, the same counts, ``unique_users`` and ``new_users`` (first seen in
  that group).
* ``verification_users/{user_id}``: ``first_seen``, ``first_day``, ``days``
  (the most recent UTC days the user was seen) and ``groups``
  (group id -> most recent days seen there).

With ``shards > 1``, shard ``k`` writes ``{id}~{k}`` beside ``{id}``; readers
add up every document of a day (they carry ``day`` and ``group_id`` fields).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

from google.cloud import firestore

from firestore_verify.models import Status, Verification

__all__ = [
    "DAILY",
    "GROUP_DAILY",
    "USERS",
    "BatchPlan",
    "UserState",
    "UserStateCache",
    "day_key",
    "plan_batch",
    "rollup_id",
]

DAILY = "rollups_daily"
GROUP_DAILY = "rollups_group_daily"
USERS = "verification_users"
REMEMBERED_DAYS = 100
"""How many recent days a user document remembers (analytics go back 90 days)."""
_STATUS_COUNTER = {
    Status.SUCCESS: "success_count",
    Status.FAILED: "failed_count",
    Status.ERROR: "error_count",
}


def day_key(moment: datetime) -> str:
    """The UTC day of ``moment`` as ``YYYY-MM-DD``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def day_start(day: str) -> datetime:
    """Midnight UTC at the start of ``day`` (``YYYY-MM-DD``)."""
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=timezone.utc)


def rollup_id(base: str, shard: int) -> str:
    """The id of shard ``shard`` of rollup ``base`` (shard 0 is ``base`` itself)."""
    return base if shard == 0 else f"{base}~{shard}"


@dataclass
class UserState:
    """What is known of one user: whether stored, the days and groups seen."""

    exists: bool = False
    first_day: str | None = None
    first_seen: datetime | None = None
    days: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    group_first: dict[str, str] = field(default_factory=dict)
    """Group id -> the first UTC day the user was seen there."""
    update_time: Any = None
    """``update_time`` of the stored document, for the write precondition."""

    @classmethod
    def from_document(cls, data: Mapping[str, Any] | None, update_time: Any) -> UserState:
        """The state stored in a ``verification_users`` document (``None``: new user)."""
        if data is None:
            return cls()
        return cls(
            exists=True,
            first_day=data.get("first_day"),
            first_seen=data.get("first_seen"),
            days=list(data.get("days") or []),
            groups={k: list(v) for k, v in (data.get("groups") or {}).items()},
            group_first=dict(data.get("group_first") or {}),
            update_time=update_time,
        )

    def knows(self, day: str, group_id: int) -> bool:
        """Whether recording (day, group) would change no day or group of this user.

        It does not look at ``first_seen``: an event earlier on `first_day`
        still moves it back (``plan_batch`` checks that).
        """
        return (
            self.exists
            and day in self.days
            and day in self.groups.get(str(group_id), ())
            and self.first_day is not None
            and self.first_day <= day
            and self.group_first.get(str(group_id), day) <= day
        )

    def to_document(self) -> dict[str, Any]:
        """The ``verification_users`` document for this state."""
        return {
            "first_day": self.first_day,
            "first_seen": self.first_seen,
            "days": self.days,
            "groups": self.groups,
            "group_first": self.group_first,
        }


def _remember(days: list[str], day: str) -> list[str]:
    return sorted({*days, day})[-REMEMBERED_DAYS:]


@dataclass
class _Counts:
    by_field: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, delta: int = 1) -> None:
        self.by_field[name] = self.by_field.get(name, 0) + delta


@dataclass
class BatchPlan:
    """The writes one atomic batch makes for a list of events.

    ``counters`` are increments for a counter shard; ``daily`` and
    ``group_daily`` are rollup increments by document id base; ``users`` are the
    user documents whose state changed (written create-only when new, else
    with an ``update_time`` precondition).
    """

    events: list[Verification]
    counters: dict[str, int]
    daily: dict[str, dict[str, Any]]
    group_daily: dict[str, dict[str, Any]]
    users: dict[int, UserState]

    @property
    def write_count(self) -> int:
        """How many document writes the batch holds (besides the counter shard)."""
        return len(self.events) + len(self.daily) + len(self.group_daily) + len(self.users)


def _nested_increments(counts: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, delta in counts.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = firestore.Increment(delta)
    return out


def _earlier_first_seen(state: UserState, day: str, moment: datetime) -> bool:
    """Whether ``moment``, on the user's first day, comes before the stored ``first_seen``.

    An earlier batch may have recorded a later event of that same day first
    (batches arrive in any order); ``first_seen`` must still be the earliest.
    """
    if state.first_day is None or day != state.first_day:
        return False
    # Anything but a datetime (another client's write) says nothing: replace it.
    return not isinstance(state.first_seen, datetime) or moment < state.first_seen


def plan_batch(events: Iterable[Verification], users: Mapping[int, UserState]) -> BatchPlan:
    """Plan the writes for ``events`` given the known state of their users.

    ``users`` must hold a state for every user id of the events (a fresh
    ``UserState()`` for users never stored). The input states are not changed;
    the plan carries the new states of the users it touches.
    """
    ordered = sorted(events, key=lambda e: e.occurred_at)
    counters = _Counts()
    daily: dict[str, _Counts] = {}
    group_daily: dict[str, _Counts] = {}
    meta: dict[str, dict[str, Any]] = {}
    states: dict[int, UserState] = {}
    def day_counts(day: str) -> _Counts:
        meta.setdefault(day, {"day": day, "date": day_start(day)})
        return daily.setdefault(day, _Counts())

    def group_counts(group_id: int, day: str) -> _Counts:
        key = f"{group_id}_{day}"
        meta.setdefault(key, {"group_id": group_id, "day": day, "date": day_start(day)})
        return group_daily.setdefault(key, _Counts())

    for event in ordered:
        day = day_key(event.occurred_at)
        hour = f"{event.occurred_at.astimezone(timezone.utc).hour:02d}"
        status = event.status.value
        checks = event.checks
        counters.add("total_verifications", checks)
        counters.add(_STATUS_COUNTER[event.status], checks)

        d = day_counts(day)
        for name in ("total", status, f"hours.{hour}.total", f"hours.{hour}.{status}"):
            d.add(name, checks)
        g = group_counts(event.group_id, day)
        g.add("total", checks)
        g.add(status, checks)

        base = states.get(event.user_id) or users[event.user_id]
        earlier = _earlier_first_seen(base, day, event.occurred_at)
        if base.knows(day, event.group_id) and not earlier:
            continue
        state = UserState(
            exists=base.exists, first_day=base.first_day, first_seen=base.first_seen,
            days=list(base.days), groups={k: list(v) for k, v in base.groups.items()},
            group_first=dict(base.group_first), update_time=base.update_time,
        )
        if state.first_day is None:
            state.first_day, state.first_seen = day, event.occurred_at
            d.add("new_users")
            counters.add("total_users")
        elif day < state.first_day:
            # An event older than the user's first one (a backfill): move "new" back.
            day_counts(state.first_day).add("new_users", -1)
            state.first_day, state.first_seen = day, event.occurred_at
            d.add("new_users")
        elif earlier:
            state.first_seen = event.occurred_at
        if day not in state.days:
            state.days = _remember(state.days, day)
            d.add("unique_users")
        group_key = str(event.group_id)
        first_here = state.group_first.get(group_key)
        if first_here is None or day < first_here:
            if first_here is not None:
                group_counts(event.group_id, first_here).add("new_users", -1)
            state.group_first[group_key] = day
            g.add("new_users")
        if day not in state.groups.get(group_key, ()):
            state.groups[group_key] = _remember(state.groups.get(group_key, []), day)
            g.add("unique_users")
        states[event.user_id] = state

    def docs(source: dict[str, _Counts]) -> dict[str, dict[str, Any]]:
        return {
            key: {**meta[key], **_nested_increments(c.by_field),
                  "updated_at": firestore.SERVER_TIMESTAMP}
            for key, c in source.items()
        }

    return BatchPlan(
        events=ordered,
        counters=counters.by_field,
        daily=docs(daily),
        group_daily=docs(group_daily),
        users=states,
    )


class UserStateCache:
    """A bounded LRU of user states a writer wrote or read last (most recent kept).

    Writers plan batches against these instead of reading every user again; a
    conflict drops the users it names, so the next plan reads them afresh.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._states: OrderedDict[int, UserState] = OrderedDict()

    def get(self, user_id: int) -> UserState | None:
        """The cached state of ``user_id`` (now the most recent), or ``None``."""
        state = self._states.get(user_id)
        if state is not None:
            self._states.move_to_end(user_id)
        return state

    def put(self, user_id: int, state: UserState) -> None:
        """Remember ``state``; the least recently used go beyond ``size``."""
        self._states[user_id] = state
        self._states.move_to_end(user_id)
        while len(self._states) > self._size:
            self._states.popitem(last=False)

    def drop(self, user_ids: Iterable[int]) -> None:
        """Forget ``user_ids`` (their stored state moved on)."""
        for user_id in user_ids:
            self._states.pop(user_id, None)
