"""Shared helpers for event tests: synthetic events and recounts from raw documents."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import firestore_verify as fv

STATUSES = [fv.Status.SUCCESS, fv.Status.FAILED, fv.Status.ERROR]


def make_events(count: int, *, users: int = 50, groups: tuple[int, ...] = (-1001, -1002),
                start: datetime | None = None, spread: timedelta = timedelta(0),
                seed: int = 1, prefix: str = "e") -> list[fv.Verification]:
    """``count`` events over ``users`` users and ``groups``, spread after ``start``."""
    rng = random.Random(seed)
    base = start or datetime.now(timezone.utc)
    events = []
    for i in range(count):
        offset = spread * rng.random() if spread else timedelta(0)
        events.append(fv.Verification(
            id=f"{prefix}{seed}-{i}",
            user_id=rng.randint(1, users),
            group_id=rng.choice(groups),
            channel_id=-2001,
            status=rng.choice(STATUSES),
            latency_ms=rng.uniform(5, 300),
            cached=rng.random() < 0.5,
            error_type=None,
            occurred_at=base + offset,
        ))
    return events


async def raw_events(store: fv.Store) -> list[dict[str, Any]]:
    """Every stored verification document."""
    return [s.to_dict() async for s in store.collection("verifications").stream()]


def checks(event: dict[str, Any]) -> int:
    """How many checks a raw event stands for: 1 + its folded ``repeats``."""
    return 1 + int(event.get("repeats") or 0)


def expected_rollups(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Recount daily and per-group-daily rollups from raw events (the slow, obvious way)."""
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    group_daily: dict[str, Counter[str]] = defaultdict(Counter)
    first_day: dict[int, str] = {}
    first_group_day: dict[tuple[int, int], str] = {}
    users_by_day: dict[str, set[int]] = defaultdict(set)
    users_by_group_day: dict[str, set[int]] = defaultdict(set)
    for e in sorted(events, key=lambda e: e["occurred_at"]):
        day = e["occurred_at"].astimezone(timezone.utc).strftime("%Y-%m-%d")
        gkey = f"{e['group_id']}_{day}"
        for c in (daily[day], group_daily[gkey]):
            c["total"] += checks(e)
            c[e["status"]] += checks(e)
        users_by_day[day].add(e["user_id"])
        users_by_group_day[gkey].add(e["user_id"])
        first_day.setdefault(e["user_id"], day)
        first_group_day.setdefault((e["user_id"], e["group_id"]), gkey)
    for day, users in users_by_day.items():
        daily[day]["unique_users"] = len(users)
    for day in first_day.values():
        daily[day]["new_users"] += 1
    for gkey, users in users_by_group_day.items():
        group_daily[gkey]["unique_users"] = len(users)
    for gkey in first_group_day.values():
        group_daily[gkey]["new_users"] += 1
    return {"daily": daily, "group_daily": group_daily, "users": len(first_day)}


async def stored_rollups(store: fv.Store, collection: str) -> dict[str, Counter[str]]:
    """Rollup documents added up over shards, by base id."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    async for snap in store.collection(collection).stream():
        data = snap.to_dict()
        base = snap.id.split("~")[0]
        for name in ("total", "success", "failed", "error", "unique_users", "new_users"):
            if data.get(name):
                out[base][name] += data[name]
    return out


async def assert_counters_match_events(store: fv.Store) -> None:
    """The counters equal a recount of the raw events."""
    events = await raw_events(store)
    stats = await store.stats.get()
    by_status: Counter[str] = Counter()
    for e in events:
        by_status[e["status"]] += checks(e)
    assert stats.total_verifications == sum(checks(e) for e in events)
    assert stats.success_count == by_status["success"]
    assert stats.failed_count == by_status["failed"]
    assert stats.error_count == by_status["error"]
    assert stats.total_users == len({e["user_id"] for e in events})
