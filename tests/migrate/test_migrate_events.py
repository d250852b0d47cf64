"""The migration's event import: lanes in flight, exactly once, what the event writer writes.

The reference is :meth:`store.verifications.write_many` (the library's event
writer): the importer, whatever its lanes, batch sizes, faults and re-runs,
must leave the same counters, rollups and user documents.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.types import write as write_types

import firestore_verify as fv
from firestore_verify._encode import create_write
from firestore_verify.counters import increments
from firestore_verify.errors import InvalidInputError, UnavailableError
from firestore_verify.events import EventWriter
from firestore_verify.migrate import TableResult
from firestore_verify.migrate.event_import import EventImporter, check_concurrency, pack
from firestore_verify.migrate.event_writes import event_write, merge_write, user_write
from firestore_verify.rollups import DAILY, GROUP_DAILY, USERS, UserState, plan_batch

UTC = timezone.utc
START = datetime(2024, 5, 1, tzinfo=UTC)
GROUPS = [-1001000000000 - g for g in range(6)]


def _events(count: int, *, users: int = 60, days: int = 4, seed: int = 3) -> list[fv.Verification]:
    """Events in time order, except a few late arrivals (backfills move first-seen days back)."""
    rng = random.Random(seed)
    moments = sorted(START + timedelta(seconds=rng.randint(0, days * 86400 - 1))
                     for _ in range(count))
    events = [fv.Verification(id=f"legacy-{i}", user_id=rng.randint(1, users),
                              group_id=rng.choice(GROUPS),
                              status=rng.choice(list(fv.Status)), occurred_at=moment)
              for i, moment in enumerate(moments)]
    late = events[-count // 10:]
    return late + events[:-count // 10] if count >= 10 else events


async def _connect(store: fv.Store, prefix: str) -> fv.Store:
    return await fv.connect(project=store.project, emulator_host=store.settings.emulator_host,
                            prefix=prefix)


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without write times, and without zero counts (a count moved back and forth
    by a late event is a stored 0 for one writer and absent for another: both read as 0)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _plain(value)
        zero = type(value) is int and value == 0
        if key not in ("updated_at", "last_updated") and not zero and value != {}:
            out[key] = value
    return out


async def _state(store: fv.Store) -> dict[str, Any]:
    """Everything counting events produces: counters, rollups and user documents."""
    out: dict[str, Any] = {"stats": (await store.stats.get()).model_copy(
        update={"last_updated": None})}
    for name in (DAILY, GROUP_DAILY, USERS):
        out[name] = {s.id: _plain(s.to_dict() or {})
                     async for s in store.collection(name).stream()}
    out["events"] = {s.id async for s in store.collection("verifications").stream()}
    return out


async def _import(store: fv.Store, events: list[fv.Verification], **options: Any) -> TableResult:
    result = TableResult(target="verifications")
    await EventImporter(store, result, **options).run(events)
    return result


# -- encoding (no emulator) -------------------------------------------------------------------


def test_merge_write_is_what_the_client_sends() -> None:
    events = _events(300)
    plan = plan_batch(events, {e.user_id: UserState() for e in events})
    docs = [*plan.daily.values(), *plan.group_daily.values(), increments(plan.counters)]
    path = "projects/p/databases/(default)/documents/c/d"
    for doc in docs:
        ours = merge_write(path, doc)
        theirs = write_types.Write.pb(_helpers.pbs_for_set_with_merge(path, doc, merge=True)[0])
        assert ours == theirs


def test_event_and_new_user_writes_are_what_the_event_writer_sends() -> None:
    events = _events(50)
    plan = plan_batch(events, {e.user_id: UserState() for e in events})
    path = "projects/p/databases/(default)/documents/c/d"
    for event in events:
        assert event_write(path, event) == write_types.Write.pb(
            create_write(path, event.to_document()))
    for state in plan.users.values():
        assert user_write(path, UserState(), state) == write_types.Write.pb(
            create_write(path, state.to_document()))


def test_merge_write_refuses_nested_plain_values() -> None:
    with pytest.raises(TypeError, match=r"at a\.b"):
        merge_write("projects/p/databases/d/documents/c/d", {"a": {"b": 1}})


def test_user_write_sends_only_what_changed() -> None:
    path = "projects/p/databases/(default)/documents/verification_users/7"
    first = fv.Verification(user_id=7, group_id=GROUPS[0], status=fv.Status.SUCCESS,
                            occurred_at=START)
    created = plan_batch([first], {7: UserState()}).users[7]
    assert user_write(path, UserState(), created).current_document.exists is False

    created.exists, created.update_time = True, START
    later = fv.Verification(user_id=7, group_id=GROUPS[1], status=fv.Status.FAILED,
                            occurred_at=START + timedelta(days=1))
    after = plan_batch([later], {7: created}).users[7]
    raw = user_write(path, created, after)
    assert list(raw.update_mask.field_paths) == [f"group_first.`{GROUPS[1]}`",
                                                 f"groups.`{GROUPS[1]}`"]
    assert [t.field_path for t in raw.update_transforms] == ["days"]  # the new day, appended
    assert raw.current_document.HasField("update_time")


def test_pack_cuts_a_window_group_by_group() -> None:
    window = sorted(_events(2000, users=500), key=lambda e: e.occurred_at)
    batches = pack(window, 500)
    assert sorted(e.id for b in batches for e in b) == sorted(e.id for e in window)
    for batch in batches:
        assert EventWriter.writes_needed(batch) <= 500
    # Few groups per commit (in time order, every commit would hold all six).
    assert sum(len({e.group_id for e in b}) for b in batches) <= len(batches) + len(GROUPS)
    for group in GROUPS:
        mine = [e.id for b in batches for e in b if e.group_id == group]
        assert mine == [e.id for e in window if e.group_id == group]
    assert all(len(b) <= 37 for b in pack(window, 37))


def test_concurrency_is_checked() -> None:
    check_concurrency(1)
    for bad in (0, 33):
        with pytest.raises(InvalidInputError, match="between 1 and 32"):
            check_concurrency(bad)


# -- against the emulator ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_lanes_write_what_the_event_writer_writes(store: fv.Store) -> None:
    events = _events(1500)
    await store.verifications.write_many(events)
    lanes = await _connect(store, "lanes_")
    async with lanes:
        result = await _import(lanes, events, concurrency=8, batch_size=37)
        assert (result.created, result.unchanged) == (1500, 0)
        assert await _state(lanes) == await _state(store)
        # A second run writes nothing.
        again = await _import(lanes, events, concurrency=3)
        assert (again.created, again.unchanged) == (0, 1500)
        assert await _state(lanes) == await _state(store)


@pytest.mark.anyio
async def test_an_interrupted_run_resumes_exactly(store: fv.Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    events = _events(1200, seed=5)
    await store.verifications.write_many(events)
    original = EventImporter._commit
    commits = {"n": 0}

    async def failing(self: EventImporter, writes: list[Any]) -> list[Any]:
        commits["n"] += 1
        if commits["n"] > 6:
            raise UnavailableError("the emulator went away", host=None)
        return await original(self, writes)

    resumed = await _connect(store, "resumed_")
    async with resumed:
        monkeypatch.setattr(EventImporter, "_commit", failing)
        with pytest.raises(UnavailableError):  # the error itself, not an exception group
            await _import(resumed, events, concurrency=4, batch_size=50)
        monkeypatch.setattr(EventImporter, "_commit", original)
        landed = len((await _state(resumed))["events"])
        assert 0 < landed < 1200
        result = await _import(resumed, events, concurrency=2, batch_size=50)
        assert (result.created, result.unchanged) == (1200 - landed, landed)
        assert await _state(resumed) == await _state(store)


@pytest.mark.anyio
async def test_a_concurrent_writer_is_not_overwritten(store: fv.Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot writes a user the run took for new: the commit fails, is planned again."""
    events = _events(400, seed=11)
    bot_event = fv.Verification(id="bot-1", user_id=events[0].user_id, group_id=GROUPS[0],
                                status=fv.Status.SUCCESS, occurred_at=START - timedelta(days=3))
    await store.verifications.write_many([*events, bot_event])
    target = await _connect(store, "live_")
    async with target:
        original = EventImporter._commit
        done = {"bot": False}

        async def bot_first(self: EventImporter, writes: list[Any]) -> list[Any]:
            if not done["bot"]:
                done["bot"] = True
                await target.verifications.write_many([bot_event])
            return await original(self, writes)

        lookups = {"n": 0}
        original_stored = EventImporter._stored

        async def stored(self: EventImporter, events: Any) -> set[str]:
            lookups["n"] += 1
            found: set[str] = await original_stored(self, events)
            return found

        monkeypatch.setattr(EventImporter, "_commit", bot_first)
        monkeypatch.setattr(EventImporter, "_stored", stored)
        result = await _import(target, events, concurrency=1, batch_size=400)
        assert (result.created, result.unchanged) == (400, 0)
        assert lookups["n"] == 1  # the conflict: which events landed? none, plan again
        assert await _state(target) == await _state(store)


@pytest.mark.anyio
async def test_dry_run_counts_and_writes_nothing(store: fv.Store) -> None:
    events = _events(300)
    await _import(store, events[:120])
    before = await _state(store)
    result = await _import(store, events, dry_run=True)
    assert (result.created, result.unchanged) == (180, 120)
    assert await _state(store) == before


@pytest.mark.anyio
async def test_ambiguous_commits_count_once(store: fv.Store, firestore_emulator: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits land while their answers are lost (a real network fault): resent, found
    stored, not counted again, whatever the lanes in flight at the time."""
    faults = pytest.importorskip("firestore_verify.testing.faults")
    events = _events(2000, seed=13)
    await store.verifications.write_many(events)
    original = EventImporter._commit
    commits = {"n": 0}
    with faults.FaultProxy(firestore_emulator.host) as proxy:

        async def faulty(self: EventImporter, request: Any) -> list[Any]:
            commits["n"] += 1
            if commits["n"] in (3, 9, 15):
                proxy.drop_responses_then_reset(after=0.5)
            results: list[Any] = await original(self, request)
            return results

        monkeypatch.setattr(EventImporter, "_commit", faulty)
        target = await fv.connect(project=store.project, emulator_host=proxy.host,
                                  prefix="faulty_")
        try:
            result = await _import(target, events, concurrency=4, batch_size=100)
        finally:
            proxy.healthy()
            await target.close()
        assert proxy.stats.resets >= 3
        assert proxy.stats.bytes_dropped_down > 0
    assert result.created + result.unchanged == 2000
    assert result.unchanged > 0  # some landed commits were only heard of on their resend
    checked = await _connect(store, "faulty_")
    async with checked:
        assert await _state(checked) == await _state(store)
