"""Shard leases: a fleet shares the counter shards, one writer per shard, crashes taken over."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import anyio
import pytest
from helpers_events import assert_counters_match_events, make_events

import firestore_verify as fv
from firestore_verify.leases import LeaseView, ShardLeases, plan_leases

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
FRESH, STALE = NOW - timedelta(seconds=5), NOW - timedelta(seconds=60)


def views(*owners: str | None, renewed: datetime = FRESH) -> list[LeaseView]:
    return [LeaseView(shard=k, owner=o, renewed=renewed if o else None)
            for k, o in enumerate(owners)]


# -- the pure planner ----------------------------------------------------------------


def test_a_lone_process_takes_the_whole_pool() -> None:
    plan = plan_leases(views(None, None, None, None), me="a", now=NOW, ttl=30)
    assert (plan.held, plan.release) == ((0, 1, 2, 3), ())


def test_a_newcomer_gets_its_share_as_the_others_release() -> None:
    pool = views("a", "a", "a", "a")
    members = [("a", FRESH), ("b", FRESH)]
    # b sees nothing free yet, but counts itself: a must give two back.
    b = plan_leases(pool, me="b", now=NOW, ttl=30, members=members)
    assert b.held == ()
    a = plan_leases(pool, me="a", now=NOW, ttl=30, members=members)
    assert (a.keep, a.release) == ((0, 1), (2, 3))
    after = views("a", "a", None, None)
    b = plan_leases(after, me="b", now=NOW, ttl=30, members=members)
    assert b.take == (2, 3)


def test_shares_cover_the_pool_exactly_whatever_the_fleet() -> None:
    for pool in (1, 4, 7, 16):
        for fleet in range(1, 6):
            members = [(f"p{i}", FRESH) for i in range(fleet)]
            targets = []
            for me, _ in members:
                plan = plan_leases(views(*[None] * pool), me=me, now=NOW, ttl=30,
                                   members=members)
                targets.append(len(plan.held))
            assert sum(targets) == pool, (pool, fleet, targets)
            assert max(targets) - min(targets) <= 1


def test_expired_leases_are_taken_over() -> None:
    pool = views("dead", "dead", "b", "b", renewed=STALE)
    pool[2:] = [LeaseView(2, "b", FRESH), LeaseView(3, "b", FRESH)]
    plan = plan_leases(pool, me="c", now=NOW, ttl=30, members=[("b", FRESH), ("c", FRESH)])
    assert plan.take == (0, 1)


# -- through the emulator ------------------------------------------------------------


async def renew_until(leases: list[ShardLeases], wanted: dict[str, int], within: float) -> None:
    """Renew each process in turn until each holds ``wanted`` shards (bounded)."""
    with anyio.fail_after(within):
        while {lease.owner: len(lease.held()) for lease in leases} != wanted:
            for lease in leases:
                await lease.renew()
            await anyio.sleep(0.2)


@pytest.mark.anyio
async def test_processes_split_the_pool_and_take_over_a_crashed_one(store: fv.Store) -> None:
    a, b, c = (ShardLeases(store, pool=6, ttl=4, owner=name) for name in "abc")
    await renew_until([a], {"a": 6}, within=20)  # alone, a takes the whole pool
    await renew_until([a, b, c], {"a": 2, "b": 2, "c": 2}, within=20)
    held = [set(x.held()) for x in (a, b, c)]
    assert set().union(*held) == set(range(6))
    assert sum(len(h) for h in held) == 6  # disjoint
    # c crashes: no release, no renewal. Its leases expire after ttl; a and b take over.
    await renew_until([a, b], {"a": 3, "b": 3}, within=20)
    assert set(a.held()) | set(b.held()) == set(range(6))
    await a.release_all()
    await renew_until([b], {"b": 6}, within=20)


@pytest.mark.anyio
async def test_loggers_with_leases_write_disjoint_shards_exactly_once(store: fv.Store) -> None:
    stores = [await fv.connect(project=store.project, emulator_host=store.settings.emulator_host)
              for _ in range(2)]
    events = make_events(600, users=120)
    seen: list[set[int]] = []
    try:
        async with (stores[0].verifications.logger(shards=4, leases=True,
                                                   lease_seconds=4) as one,
                    stores[1].verifications.logger(shards=4, leases=True,
                                                   lease_seconds=4) as two):
            with anyio.fail_after(30):  # the first renewals rebalance 4 / 0 to 2 / 2
                while len(one.health.shards) != 2 or len(two.health.shards) != 2:
                    await anyio.sleep(0.1)
            for index, event in enumerate(events):
                await (one if index % 2 else two).put(event)
                if index % 50 == 0:
                    seen.append(set(one.health.shards) & set(two.health.shards))
            await one.flush()
            await two.flush()
    finally:
        for extra in stores:
            await extra.close()
    assert all(not overlap for overlap in seen), seen
    assert one.stats.committed + two.stats.committed == 600
    await assert_counters_match_events(store)
    # Released on close: nothing left holding the pool.
    leases = store.collection("_metadata").document("leases").collection("shards")
    assert [s.id async for s in leases.stream()] == []


@pytest.mark.anyio
async def test_a_released_shard_is_handed_over_only_once_its_writes_settled(
        store: fv.Store) -> None:
    settled = anyio.Event()
    asked: list[int] = []

    async def settle(shard: int) -> None:
        asked.append(shard)
        await settled.wait()

    a = ShardLeases(store, pool=4, ttl=30, owner="a", settle=settle)
    b = ShardLeases(store, pool=4, ttl=30, owner="b")
    await a.renew()
    assert a.held() == [0, 1, 2, 3]
    await b.renew()  # b joins: the pool is full, b counts as a member
    assert b.held() == []
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.renew)  # a gives two shards up and waits for them to settle
            while not asked:
                await anyio.sleep(0.05)
            assert a.held() == [0, 1], "a kept writing to the shards it gives up"
            await b.renew()
            assert b.held() == [], "b took a shard whose last writes had not settled"
            settled.set()
        await b.renew()
    assert sorted(asked) == [2, 3]
    assert (a.held(), b.held()) == ([0, 1], [2, 3])


@pytest.mark.anyio
async def test_concurrent_renewals_of_a_fleet_all_succeed(store: fv.Store) -> None:
    """No renewal holds a lock: many processes renewing at once only retry, never fail."""
    fleet = [ShardLeases(store, pool=8, ttl=30, owner=f"p{i}") for i in range(4)]
    with anyio.fail_after(60):
        for _ in range(4):
            async with anyio.create_task_group() as tg:
                for lease in fleet:
                    tg.start_soon(lease.renew)
    held = [set(lease.held()) for lease in fleet]
    assert sum(len(h) for h in held) == 8, held
    assert set().union(*held) == set(range(8)), held
    assert sorted(len(h) for h in held) == [2, 2, 2, 2]


@pytest.mark.anyio
async def test_a_logger_with_leases_leaves_at_once_when_the_body_never_yields(
        store: fv.Store) -> None:
    with anyio.fail_after(20):
        async with store.verifications.logger(shards=2, leases=True, lease_seconds=3):
            pass
    leases = store.collection("_metadata").document("leases").collection("shards")
    assert [s.id async for s in leases.stream()] == []


@pytest.mark.anyio
async def test_a_logger_whose_first_renewal_keeps_losing_starts_without_shards(
        store: fv.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.api_core import exceptions as gexc

    original = ShardLeases._commit
    losses = {"left": 8}  # every attempt of the first renewal

    async def losing(self: ShardLeases, *args: object) -> object:
        if losses["left"]:
            losses["left"] -= 1
            raise gexc.FailedPrecondition("another process renewed in between")
        return await original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ShardLeases, "_commit", losing)
    with anyio.fail_after(30):
        async with store.verifications.logger(shards=2, leases=True, lease_seconds=3) as log:
            assert log.health.shards == []
            log.record(fv.Verification(user_id=1, group_id=-1001, status=fv.Status.SUCCESS))
            await log.flush()  # written once a later renewal got the shards
            assert log.health.shards == [0, 1]
    assert (await store.stats.get()).total_verifications == 1
