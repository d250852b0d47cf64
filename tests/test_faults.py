"""The logger's exactly-once promise under real network faults (through a FaultProxy).

Each test drives a ``VerificationLogger`` whose store reaches the emulator only
through a :class:`~firestore_verify.testing.faults.FaultProxy`, injects a fault
while the logger is flushing, and then checks, with a store connected straight
to the emulator, that every event ``record()`` accepted is stored exactly once
and that counters and rollups equal a recount. ``record()`` is called in the
test body: had it raised, the test would fail there.

Several tests first write one event per user through the proxied store: its
writer then knows every user's state, so the logger's next write is one commit
and nothing else, and the fault hits that commit rather than a read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from helpers_events import (
    assert_counters_match_events,
    expected_rollups,
    make_events,
    raw_events,
    stored_rollups,
)

import firestore_verify as fv
from firestore_verify.rollups import DAILY, GROUP_DAILY
from firestore_verify.testing.emulator import FirestoreEmulator
from firestore_verify.testing.faults import FaultProxy

pytestmark = pytest.mark.anyio

#: Settings that keep a logger flushing for a few seconds: small batches, a slow pace.
SLOW = fv.LoggerSettings(max_batch_events=25, max_writes_per_second=2, burst=1)
#: Settings that let a logger commit as soon as it can.
FAST = fv.LoggerSettings(max_writes_per_second=50, burst=5)


@pytest.fixture
def proxy(firestore_emulator: FirestoreEmulator) -> Iterator[FaultProxy]:
    with FaultProxy(firestore_emulator.host) as running:
        yield running


@asynccontextmanager
async def through(proxy: FaultProxy, project: str, **options: Any) -> AsyncIterator[fv.Store]:
    """A store on ``project`` that reaches the emulator only through ``proxy``."""
    connected = await fv.connect(project=project, emulator_host=proxy.host, **options)
    try:
        yield connected
    finally:
        proxy.healthy()  # the channel closes cleanly whatever the test left behind
        await connected.close()


@pytest.fixture
async def proxied(proxy: FaultProxy, firestore_project: str) -> AsyncIterator[fv.Store]:
    async with through(proxy, firestore_project) as connected:
        yield connected


def grew(read: Callable[[], int]) -> Callable[[], bool]:
    """A condition: ``read()`` became larger than it is now."""
    start = read()
    return lambda: read() > start


async def warm(store: fv.Store, users: int, *, prefix: str = "warm") -> list[fv.Verification]:
    """Write one event for each of users ``1..users`` through ``store``; returns them."""
    events = [
        fv.Verification(id=f"{prefix}-{user}", user_id=user, group_id=-1001,
                        status=fv.Status.SUCCESS)
        for user in range(1, users + 1)
    ]
    outcome = await store.verifications.write_many(events)
    assert outcome.written == users
    return events


async def stored_ids(direct: fv.Store, events: Sequence[fv.Verification]) -> set[str]:
    """Which of ``events`` the emulator holds, read straight from it."""
    refs = [direct.collection("verifications").document(e.id) for e in events]
    return {snap.id async for snap in direct.client.get_all(refs) if snap.exists}


async def assert_exactly_once(direct: fv.Store, acknowledged: Sequence[fv.Verification]) -> None:
    """Every acknowledged event is stored once, nothing else is, and the counts add up."""
    expected = [e.id for e in acknowledged]
    assert len(set(expected)) == len(expected), "the test acknowledged an event twice"
    stored = [snap.id async for snap in direct.collection("verifications").stream()]
    missing = set(expected) - set(stored)
    unexpected = set(stored) - set(expected)
    assert not missing, f"{len(missing)} acknowledged events were lost: {sorted(missing)[:5]}"
    assert not unexpected, f"{len(unexpected)} events were never acknowledged: {unexpected}"
    stats = await direct.stats.get()
    assert stats.total_verifications == len(expected), (
        f"{len(expected)} events are stored once each, but the counters say "
        f"{stats.total_verifications}: some were counted twice or not at all"
    )
    await assert_counters_match_events(direct)
    recount = expected_rollups(await raw_events(direct))
    assert await stored_rollups(direct, DAILY) == recount["daily"]
    assert await stored_rollups(direct, GROUP_DAILY) == recount["group_daily"]
    drift = await direct.stats.reconcile()
    assert not drift.fixed, f"reconcile() found the counters off by {drift.fixed}"


async def test_connection_dropped_mid_commit(
    proxy: FaultProxy, proxied: fv.Store, store: fv.Store
) -> None:
    """Three times while flushing: the commit goes into a black hole, then the connection drops."""
    acknowledged = await warm(proxied, 20)
    events = make_events(120, users=20, prefix="drop")
    with anyio.fail_after(90):
        async with proxied.verifications.logger(SLOW, max_writes_per_second=10) as log:
            for round_ in range(3):
                dropped = grew(lambda: proxy.stats.bytes_dropped_up)
                proxy.blackhole()
                for event in events[round_ * 40:(round_ + 1) * 40]:
                    acknowledged.append(log.record(event))
                await proxy.wait_for_async(
                    dropped, timeout=20,
                    what=f"round {round_}: the logger sending into the black hole")
                assert log.pending > 0
                assert proxy.reset_connections() >= 1
        assert log.pending == 0
    assert log.stats.committed + log.stats.already_stored == len(events)
    assert proxy.stats.resets >= 3
    await assert_exactly_once(store, acknowledged)


async def test_ambiguous_commit_is_counted_once(
    proxy: FaultProxy, proxied: fv.Store, store: fv.Store
) -> None:
    """The commit lands, its answer is lost, the connection drops, the logger tries again."""
    acknowledged = await warm(proxied, 10)
    events = make_events(30, users=10, prefix="ambiguous")
    with anyio.fail_after(60):
        async with proxied.verifications.logger(FAST) as log:
            proxy.drop_responses_then_reset(after=None)
            for event in events:
                acknowledged.append(log.record(event))

            async def landed() -> bool:
                return len(await stored_ids(store, events)) == len(events)

            await proxy.wait_for_async(
                landed, timeout=20, what="the logger's commit landing in the emulator")
            assert log.pending == len(events), "the logger heard back from a swallowed answer"
            await proxy.wait_for_async(lambda: proxy.stats.bytes_dropped_down > 0,
                                       what="the emulator's answer being swallowed")
            reconnected = grew(lambda: proxy.stats.connections_accepted)
            proxy.reset_connections()
        assert log.pending == 0
    assert reconnected(), "the logger never came back to find out what became of its commit"
    # The resend met its own first attempt: nothing was written or counted twice.
    assert (log.stats.committed, log.stats.already_stored) == (0, len(events))
    await assert_exactly_once(store, acknowledged)


async def test_ambiguous_commit_retried_with_newer_events(
    proxy: FaultProxy, firestore_project: str, store: fv.Store
) -> None:
    """A landed batch whose answer never came goes again, in one batch with newer events.

    The store's deadline (4 s) expires while the answer is swallowed, so the
    write gives up and the logger puts the batch back in front of the events
    recorded meanwhile; its next commit carries both. Only the newer ones may
    be written and counted.
    """
    async with through(proxy, firestore_project, timeout=4.0) as proxied:
        acknowledged = await warm(proxied, 10)
        landed_first = make_events(20, users=10, seed=1, prefix="landed")
        newer = make_events(20, users=15, seed=2, prefix="newer")  # users 11..15 are new
        with anyio.fail_after(60):
            async with proxied.verifications.logger(FAST) as log:
                proxy.drop_responses_then_reset(after=None)
                for event in landed_first:
                    acknowledged.append(log.record(event))

                async def landed() -> bool:
                    return len(await stored_ids(store, landed_first)) == len(landed_first)

                await proxy.wait_for_async(
                    landed, timeout=20, what="the logger's commit landing in the emulator")
                for event in newer:  # they wait behind the commit in flight
                    acknowledged.append(log.record(event))
                await proxy.wait_for_async(
                    lambda: log.stats.failed_commits >= 1, timeout=20,
                    what="the write giving up on the swallowed answer (4 s deadline)")
                proxy.healthy()  # the connection lost answers: it is reset, the logger reconnects
            assert log.pending == 0
    assert log.stats.committed == len(newer)
    assert log.stats.already_stored == len(landed_first)
    await assert_exactly_once(store, acknowledged)


@pytest.mark.parametrize("outage", [1.0, 3.0])
async def test_outage_while_flushing_then_recovery(
    proxy: FaultProxy, proxied: fv.Store, store: fv.Store, outage: float
) -> None:
    events = make_events(200, users=40, prefix="outage")
    acknowledged: list[fv.Verification] = []
    with anyio.fail_after(90):
        async with proxied.verifications.logger(SLOW) as log:
            for event in events:
                acknowledged.append(log.record(event))
            await proxy.wait_for_async(lambda: log.stats.commits >= 1, timeout=20,
                                       what="the logger's first commit")
            assert log.pending > 0, "the logger flushed everything before the outage"
            proxy.refuse()
            started = anyio.current_time()
            await proxy.wait_for_async(
                lambda: proxy.stats.connections_refused >= 1, timeout=20,
                what="the logger trying to reconnect during the outage")
            # While it happens, the logger says so (and why).
            await proxy.wait_for_async(lambda: log.health.status == "retrying", timeout=20,
                                       what="the logger's health reporting the outage")
            assert "Unavailable" in (log.health.last_error or ""), log.health
            # The outage lasts `outage` seconds: that is the scenario, not a wait for it.
            await anyio.sleep(max(0.0, outage - (anyio.current_time() - started)))
            assert log.pending > 0
            proxy.healthy()
            await log.flush()
            health = log.health
            assert (health.status, health.pending, health.consecutive_errors) == ("ok", 0, 0)
        assert log.pending == 0
    assert log.stats.committed + log.stats.already_stored == len(events)
    await assert_exactly_once(store, acknowledged)


@pytest.mark.parametrize("when", ["between-commits", "mid-commit", "while-retrying"])
async def test_outage_longer_than_close_timeout_hands_back_the_unwritten(
    proxy: FaultProxy, firestore_project: str, store: fv.Store, when: str
) -> None:
    """Leaving the logger gives up after close_timeout; write_many() finishes the job.

    ``between-commits``: the outage starts when nothing is in flight, so
    ``unwritten`` is exactly the events not stored. ``while-retrying``: the
    same, on a store whose 3 s deadline makes every write give up during the
    outage, so the logger has put failed batches back and tried them again
    before it closes. ``mid-commit``: the outage starts while a commit has
    landed but its answer is lost; that batch cannot be told apart from one
    that did not land, so it is handed back too, and ``write_many`` skips it.
    """
    options: dict[str, Any] = {"timeout": 3.0} if when == "while-retrying" else {}
    first = make_events(30, users=20, seed=1, prefix="first")
    during = make_events(40, users=30, seed=2, prefix="during")  # users 21..30 are new
    acknowledged: list[fv.Verification] = []

    async def record_through_the_outage(proxied: fv.Store) -> None:
        async with proxied.verifications.logger(FAST, close_timeout=2.0) as log:
            if when == "mid-commit":
                proxy.drop_responses_then_reset(after=None)
                for event in first:
                    acknowledged.append(log.record(event))

                async def landed() -> bool:
                    return len(await stored_ids(store, first)) == len(first)

                await proxy.wait_for_async(
                    landed, timeout=20, what="the logger's commit landing in the emulator")
                assert log.pending == len(first)
                proxy.refuse()
            else:
                for event in first:
                    acknowledged.append(log.record(event))
                await log.flush()  # committed, and the logger heard so
                proxy.refuse()
            for event in during:
                acknowledged.append(log.record(event))
            if when == "while-retrying":
                await proxy.wait_for_async(
                    lambda: log.stats.failed_commits >= 2, timeout=40,
                    what="two writes giving up during the outage")

    async with through(proxy, firestore_project, **options) as proxied:
        acknowledged += await warm(proxied, 20)
        with anyio.fail_after(60), pytest.raises(fv.FlushTimeoutError) as caught:
            await record_through_the_outage(proxied)
        unwritten = caught.value.unwritten
        ids = [e.id for e in unwritten]
        assert len(ids) == len(set(ids)), (
            f"unwritten holds {len(ids) - len(set(ids))} duplicates")
        stored = await stored_ids(store, acknowledged)
        not_stored = {e.id for e in acknowledged} - stored
        assert not_stored == {e.id for e in during}
        if when == "mid-commit":
            assert set(ids) == not_stored | {e.id for e in first}  # the lost-answer batch too
        else:
            assert set(ids) == not_stored
    # Later, on a healthy connection: a store opened after the outage, as an app would.
    async with through(proxy, firestore_project) as recovered:
        with anyio.fail_after(60):
            outcome = await recovered.verifications.write_many(unwritten)
    assert outcome.written == len(during)
    assert outcome.already_stored == len(unwritten) - len(during)
    await assert_exactly_once(store, acknowledged)


@pytest.mark.parametrize(("deadline", "spike"), [(None, 2.0), (4.0, 3.0)],
                         ids=["default-deadline", "deadline-shorter-than-the-spike"])
async def test_latency_spikes(
    proxy: FaultProxy, firestore_project: str, store: fv.Store, deadline: float | None,
    spike: float,
) -> None:
    """Two latency spikes (``spike`` seconds each way) while the logger flushes.

    With the default deadline the commits are slow but go through. With a
    deadline shorter than a round trip in the spike, commits land but time out
    on the client: ambiguous commits, which the logger must not count twice.
    """
    options: dict[str, Any] = {} if deadline is None else {"timeout": deadline}
    async with through(proxy, firestore_project, **options) as proxied:
        acknowledged = await warm(proxied, 30)
        events = make_events(150, users=30, prefix="latency")
        with anyio.fail_after(90):
            async with proxied.verifications.logger(SLOW, max_writes_per_second=10) as log:
                for number in range(2):
                    if deadline is None:
                        done = grew(lambda: log.stats.commits)
                        what = f"spike {number}: a commit going through"
                    else:
                        done = grew(lambda: log.stats.failed_commits)
                        what = f"spike {number}: a commit timing out"
                    proxy.latency(spike)
                    for event in events[number * 75:(number + 1) * 75]:
                        acknowledged.append(log.record(event))
                    await proxy.wait_for_async(done, timeout=30, what=what)
                    proxy.healthy()
            assert log.pending == 0
    assert log.stats.committed + log.stats.already_stored == len(events)
    await assert_exactly_once(store, acknowledged)


async def test_a_batched_read_cut_mid_stream_is_read_again(
    proxy: FaultProxy, proxied: fv.Store, store: fv.Store
) -> None:
    """google's ``retry=`` covers opening a ``get_all``, not a reset while it streams:
    the library reads the whole batch again (the migration's lookups failed on this)."""
    ids = list(range(-1001, -1041, -1))
    for group_id in ids:
        await store.groups.create(fv.ProtectedGroup(id=group_id, owner_id=1, title="g" * 200,
                                                    params={"text": "x" * 2000}))
    await proxied.groups.get_many(ids[:1])  # the channel is open: the fault hits the read
    before = proxy.stats
    # The answer's headers and first documents arrive, then nothing, then the reset.
    proxy.drop_responses_then_reset(after=0.5, forward_first=4000)
    with anyio.fail_after(20):
        found = await proxied.groups.get_many([*ids, -1])
    after = proxy.stats
    assert after.resets > before.resets, "the fault never cut the read"
    assert after.bytes_down >= before.bytes_down + 4000, "the stream did not start"
    assert sorted(found, key=int) == sorted((str(i) for i in ids), key=int)
