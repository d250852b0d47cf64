"""EventWriter: events, counters and rollups land together, exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import anyio
import pytest
from google.api_core import exceptions as gexc
from helpers_events import (
    assert_counters_match_events,
    expected_rollups,
    make_events,
    raw_events,
    stored_rollups,
)

import firestore_verify as fv
from firestore_verify.counters import increments, shard_ref
from firestore_verify.rollups import DAILY, GROUP_DAILY

pytestmark = pytest.mark.anyio


async def test_write_many_counts_and_rolls_up(store: fv.Store) -> None:
    events = make_events(300, users=40)
    outcome = await store.verifications.write_many(events)
    assert outcome.written == 300
    assert outcome.already_stored == 0
    await assert_counters_match_events(store)
    expected = expected_rollups(await raw_events(store))
    assert await stored_rollups(store, DAILY) == expected["daily"]
    assert await stored_rollups(store, GROUP_DAILY) == expected["group_daily"]


async def test_replay_after_landing_does_not_double_count(store: fv.Store) -> None:
    events = make_events(50)
    await store.verifications.write_many(events)
    before = await store.stats.get()
    # A second writer with an empty cache, as a restarted process replaying its batch.
    replay = fv.EventWriter(store)
    outcome = await replay.write(events)
    assert (outcome.written, outcome.already_stored) == (0, 50)
    assert outcome.conflicts == 0  # a replay is reported once: as already stored
    after = await store.stats.get()
    assert after.total_verifications == before.total_verifications == 50
    await assert_counters_match_events(store)


async def test_raw_replayed_batch_fails_whole(store: fv.Store) -> None:
    """The create precondition makes a replayed commit fail before any increment lands."""
    event = make_events(1)[0]
    doc = event.to_document()
    for _ in range(2):
        batch = store.client.batch()
        batch.create(store.collection("verifications").document(event.id), doc)
        batch.set(shard_ref(store, 0), increments({"total_verifications": 1}), merge=True)
        try:
            await batch.commit()
        except gexc.AlreadyExists:
            break
    else:
        pytest.fail("the replayed batch was accepted")
    assert (await store.stats.get()).total_verifications == 1


async def test_partly_stored_batch_writes_only_the_rest(store: fv.Store) -> None:
    events = make_events(20)
    await store.verifications.write_many(events[:7])
    outcome = await store.verifications.write_many(events)
    assert (outcome.written, outcome.already_stored) == (13, 7)
    await assert_counters_match_events(store)


async def test_duplicate_ids_in_one_call_count_once(store: fv.Store) -> None:
    event = make_events(1)[0]
    outcome = await store.verifications.write_many([event, event, event])
    assert outcome.written == 1
    assert (await store.stats.get()).total_verifications == 1


async def test_two_writers_on_shared_users_stay_exact(store: fv.Store) -> None:
    """Two 'processes' (separate stores) write events of the same users concurrently."""
    other = await fv.connect(project=store.project, emulator_host=store.settings.emulator_host)
    try:
        a = make_events(120, users=5, seed=1)
        b = make_events(120, users=5, seed=2)

        async def write(target: fv.Store, events: list[fv.Verification]) -> None:
            for i in range(0, len(events), 20):
                await target.verifications.write_many(events[i:i + 20])

        async with anyio.create_task_group() as tg:
            tg.start_soon(write, store, a)
            tg.start_soon(write, other, b)
    finally:
        await other.close()
    await assert_counters_match_events(store)
    expected = expected_rollups(await raw_events(store))
    assert await stored_rollups(store, DAILY) == expected["daily"]
    assert await stored_rollups(store, GROUP_DAILY) == expected["group_daily"]


async def test_rollups_across_a_utc_day_boundary(store: fv.Store) -> None:
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    events = make_events(200, users=15, start=midnight - timedelta(days=3),
                         spread=timedelta(days=3, hours=-1))
    events += make_events(30, users=15, start=midnight - timedelta(minutes=1),
                          spread=timedelta(minutes=2), seed=9)
    await store.verifications.write_many(events)
    expected = expected_rollups(await raw_events(store))
    assert len(expected["daily"]) >= 4
    assert await stored_rollups(store, DAILY) == expected["daily"]
    assert await stored_rollups(store, GROUP_DAILY) == expected["group_daily"]
    await assert_counters_match_events(store)


async def test_sharded_writes_sum_to_the_truth(store: fv.Store) -> None:
    events = make_events(90)
    for shard, chunk in enumerate((events[:30], events[30:60], events[60:])):
        await store.verifications.write_many(chunk, shard=shard)
    await assert_counters_match_events(store)
    shards = [s.id async for s in store.stats.ref.collection("shards").stream()]
    assert sorted(shards) == ["1", "2"]
    # _metadata/stats names how many shards to read; stats.get() reads them by id.
    assert (await store.stats.ref.get()).get("shards") == 3
    expected = expected_rollups(await raw_events(store))
    assert await stored_rollups(store, DAILY) == expected["daily"]


async def test_events_are_immutable(store: fv.Store) -> None:
    event = await store.verifications.create(make_events(1)[0])
    with pytest.raises(fv.InvalidInputError):
        await store.verifications.update(event.id, cached=True)
    with pytest.raises(fv.InvalidInputError):
        await store.verifications.delete(event.id)
    assert (await store.verifications.get(event.id)).created_at is not None


async def test_too_many_events_for_one_commit_is_refused(store: fv.Store) -> None:
    with pytest.raises(fv.InvalidInputError, match="smaller groups"):
        await fv.EventWriter(store).write(make_events(490, users=400))
    assert (await store.stats.get()).total_verifications == 0


async def test_backfilled_older_events_move_first_seen_back(store: fv.Store) -> None:
    """Events written newest batch first still give exact new/unique user rollups."""
    now = datetime.now(timezone.utc)
    events = make_events(240, users=30, start=now - timedelta(days=6), spread=timedelta(days=6))
    events.sort(key=lambda e: e.occurred_at, reverse=True)
    for i in range(0, len(events), 40):  # newest chunk first
        await store.verifications.write_many(events[i:i + 40])
    expected = expected_rollups(await raw_events(store))
    assert await stored_rollups(store, DAILY) == expected["daily"]
    assert await stored_rollups(store, GROUP_DAILY) == expected["group_daily"]
    await assert_counters_match_events(store)


async def test_fast_encoded_events_read_back_exactly(store: fv.Store) -> None:
    """Events go to Firestore through the writer's direct protobuf encoding."""
    events = make_events(5)
    events[0] = events[0].model_copy(update={"error_type": "BadRequest", "latency_ms": None,
                                             "channel_id": None, "status": fv.Status.ERROR})
    await store.verifications.write_many(events)
    for event in events:
        stored = await store.verifications.get(event.id)
        assert stored.created_at is not None  # the server timestamp transform applied
        assert stored.model_copy(update={"created_at": None}) == event
    user = await store.collection("verification_users").document(
        str(events[1].user_id)).get()
    assert user.get("first_seen") is not None
    assert isinstance(user.get("groups"), dict)
