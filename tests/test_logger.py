"""VerificationLogger: buffering, flushing, backpressure and exact counting under load."""

from __future__ import annotations

import socket

import anyio
import pytest
from helpers_events import assert_counters_match_events, make_events

import firestore_verify as fv

pytestmark = pytest.mark.anyio


async def test_eight_concurrent_loggers_count_exactly(store: fv.Store) -> None:
    """8 loggers (8 'processes', each its own client) write 2,000 events each."""
    stores = [
        await fv.connect(project=store.project, emulator_host=store.settings.emulator_host)
        for _ in range(8)
    ]
    loggers: list[fv.VerificationLogger] = []

    async def produce(index: int, target: fv.Store) -> None:
        # Each logger has its own users plus 10 shared by all, so user-state
        # preconditions collide between loggers (kept few: the emulator's locks are slow).
        events = [
            e if e.user_id <= 10 else e.model_copy(update={"user_id": e.user_id + 1000 * index})
            for e in make_events(2000, users=200, seed=index, prefix=f"p{index}-")
        ]
        async with target.verifications.logger(shards=16, max_writes_per_second=2,
                                               burst=2) as log:
            loggers.append(log)
            for event in events:
                await log.put(event)

    try:
        async with anyio.create_task_group() as tg:
            for index, target in enumerate(stores):
                tg.start_soon(produce, index, target)
    finally:
        for target in stores:
            await target.close()
    assert sum(log.stats.committed + log.stats.already_stored for log in loggers) == 16_000
    assert (await store.stats.get()).total_verifications == 16_000
    await assert_counters_match_events(store)
    # Write discipline: no hot document got more than the configured rate plus its burst.
    assert max(log.stats.peak_writes_per_second for log in loggers) <= 2 + 2
    assert sum(log.stats.conflicts for log in loggers) > 0  # the collisions did happen


async def test_closing_flushes_everything_accepted(store: fv.Store) -> None:
    events = make_events(500, users=200)  # five commits, one a second on one shard
    async with store.verifications.logger(max_batch_events=100) as log:
        for event in events:
            log.record(event)
        assert log.pending > 0  # nothing was waited for
    assert log.pending == 0
    assert log.stats.committed == 500
    assert await store.verifications.count() == 500
    await assert_counters_match_events(store)


async def test_low_load_commits_without_waiting_for_a_batch(store: fv.Store) -> None:
    async with store.verifications.logger() as log, store.stats.watch() as totals:
        assert (await totals.next()).total_verifications == 0
        log.record(fv.Verification(user_id=7, group_id=-1001, status=fv.Status.FAILED))
        stats = await totals.next()
        while stats.total_verifications < 1:
            stats = await totals.next()
        assert stats.failed_count == 1
        await log.flush()
        assert log.stats.commits == 1  # one event, one commit: no waiting to fill a batch


async def test_bounded_buffer_pushes_back(store: fv.Store) -> None:
    events = make_events(60, users=60)
    async with store.verifications.logger(buffer_size=10, max_batch_events=5,
                                          max_writes_per_second=20) as log:
        for event in events[:10]:
            log.record(event)
        with pytest.raises(fv.BufferFullError, match="put"):
            log.record(events[10])
        peak = 0
        for event in events[10:]:
            await log.put(event)  # waits for room instead of growing
            peak = max(peak, log.pending)
        assert peak <= 10
    # Everything accepted is written; the refused event was never accepted.
    stored = {s.id async for s in store.collection("verifications").stream()}
    assert stored == {e.id for e in events}
    assert log.stats.recorded == 60
    await assert_counters_match_events(store)


async def test_invalid_event_is_rejected_at_record(store: fv.Store) -> None:
    async with store.verifications.logger() as log:
        with pytest.raises(fv.InvalidInputError, match="group_id"):
            log.record({"user_id": 7, "group_id": 5, "status": "success"})
        with pytest.raises(fv.InvalidInputError, match="status"):
            log.record({"user_id": 7, "group_id": -5, "status": "maybe"})
        log.record({"user_id": 7, "group_id": -5, "status": "success"})
    assert (await store.stats.get()).total_verifications == 1


async def test_closed_logger_refuses_events(store: fv.Store) -> None:
    log = store.verifications.logger()
    with pytest.raises(fv.LoggerClosedError):
        log.record(make_events(1)[0])
    async with log:
        pass
    with pytest.raises(fv.LoggerClosedError):
        log.record(make_events(1)[0])


async def test_success_rate_is_refreshed_for_other_clients(store: fv.Store) -> None:
    events = make_events(40)
    async with store.verifications.logger(max_writes_per_second=50) as log:
        for event in events:
            log.record(event)
        await log.flush()
        with anyio.fail_after(10):
            while True:
                data = (await store.stats.ref.get()).to_dict() or {}
                if data.get("success_rate") == (await store.stats.get()).success_rate:
                    break
                await anyio.sleep(0.05)
    stats = await store.stats.get()
    assert data["success_rate"] == round(stats.success_count / 40 * 100, 2)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="shards"):
        fv.LoggerSettings(shards=0)
    with pytest.raises(ValueError, match="max_batch_events"):
        fv.LoggerSettings(max_batch_events=600)


async def test_events_are_flushed_even_when_the_body_fails(store: fv.Store) -> None:
    events = make_events(30)

    async def crashing_handler() -> None:
        async with store.verifications.logger() as log:
            for event in events:
                log.record(event)
            raise RuntimeError("handler crashed")

    with pytest.raises(RuntimeError, match="handler crashed"):
        await crashing_handler()
    assert await store.verifications.count() == 30
    await assert_counters_match_events(store)


async def test_unreachable_firestore_hands_back_unwritten_events() -> None:
    """Nothing is lost: what could not be committed comes back in the error."""
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with await fv.connect(project="nowhere", emulator_host=f"127.0.0.1:{port}") as dead:
        events = make_events(25)

        async def record_all() -> None:
            async with dead.verifications.logger(close_timeout=1.0) as log:
                for event in events:
                    log.record(event)

        with pytest.raises(fv.FlushTimeoutError) as caught:
            await record_all()
    assert sorted(e.id for e in caught.value.unwritten) == sorted(e.id for e in events)


async def test_a_sharded_logger_announces_its_shards_once(store: fv.Store) -> None:
    events = make_events(40)
    async with store.verifications.logger(shards=8, max_writes_per_second=50) as log:
        # Announced on start, before any commit: readers know which shards to read.
        assert (await store.stats.ref.get()).get("shards") == 8
        for event in events:
            await log.put(event)
            await anyio.sleep(0.01)  # a pause after each: each goes in its own commit
        await log.flush()
    used = {s.id async for s in store.stats.ref.collection("shards").stream()}
    assert len(used) >= 2
    assert (await store.stats.get()).total_verifications == 40  # summed over the shards
    await assert_counters_match_events(store)
