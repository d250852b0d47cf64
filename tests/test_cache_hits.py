"""The logger's cache-hit policies: every hit, folded hits, a sample; counters stay true."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers_events import (
    assert_counters_match_events,
    expected_rollups,
    raw_events,
    stored_rollups,
)

import firestore_verify as fv
from firestore_verify.folds import HitFolder
from firestore_verify.rollups import DAILY, GROUP_DAILY
from firestore_verify.testing import refused_host

pytestmark = pytest.mark.anyio

DAY = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


def hit(user: int, *, group: int = -1001, channel: int = -2001, cached: bool = True,
        status: fv.Status = fv.Status.SUCCESS, event_id: str | None = None,
        ) -> fv.Verification:
    extra = {"id": event_id} if event_id else {}
    return fv.Verification(user_id=user, group_id=group, channel_id=channel, status=status,
                           cached=cached, occurred_at=DAY, **extra)


# -- the pure bookkeeping -------------------------------------------------------------


def test_hits_of_one_user_group_channel_and_outcome_fold_into_one_event() -> None:
    folder = HitFolder("fold", window=60, sample_every=10)
    first = hit(1)
    assert folder.fold(first, now=0) == "opened"
    assert folder.fold(hit(1), now=1) == "absorbed"
    assert folder.fold(hit(1), now=2) == "absorbed"
    assert folder.fold(hit(1, status=fv.Status.FAILED), now=3) == "opened"
    assert folder.fold(hit(1, channel=-2002), now=4) == "opened"
    assert folder.fold(hit(2), now=5) == "opened"
    assert folder.fold(hit(1, cached=False), now=6) is None  # a real check: stored as is
    assert len(folder) == 4
    assert folder.next_due() == 60
    assert folder.close_due(59.9) == []
    closed = folder.close_due(60)
    assert [(e.id, e.repeats) for e in closed] == [(first.id, 2)]
    assert folder.next_due() == 63
    assert sorted(e.checks for e in folder.close_all()) == [1, 1, 1]
    assert len(folder) == 0
    assert folder.next_due() is None


def test_the_sample_keeps_one_hit_in_n_standing_for_n() -> None:
    folder = HitFolder("sample", window=60, sample_every=4)
    kept = [folder.sample(e) for e in (hit(1) for _ in range(12)) if not folder.sampled_out(e)]
    assert [e.checks for e in kept] == [4, 4, 4]
    assert not folder.sampled_out(hit(1, cached=False))
    assert folder.sample(hit(1, cached=False)).checks == 1


# -- a logger on the emulator -----------------------------------------------------------


async def assert_true_counts(store: fv.Store) -> None:
    await assert_counters_match_events(store)
    recount = expected_rollups(await raw_events(store))
    assert await stored_rollups(store, DAILY) == recount["daily"]
    assert await stored_rollups(store, GROUP_DAILY) == recount["group_daily"]
    drift = await store.stats.reconcile()
    assert not drift.fixed, f"reconcile() disagrees with the counters: {drift.fixed}"


async def test_folded_hits_are_one_document_and_exact_counts(store: fv.Store) -> None:
    async with store.verifications.logger(cache_hits="fold", fold_seconds=30) as log:
        for _ in range(25):
            log.record(hit(1))
        for _ in range(5):
            log.record(hit(2, status=fv.Status.FAILED))
        log.record(hit(3, cached=False))
        assert log.pending == 3  # two folds and a real check
        await log.flush()  # closes the open folds at once
    assert (log.stats.recorded, log.stats.folded, log.stats.committed) == (31, 28, 3)
    events = await raw_events(store)
    assert sorted((e["user_id"], e["repeats"]) for e in events) == [(1, 24), (2, 4), (3, 0)]
    stats = await store.stats.get()
    assert (stats.total_verifications, stats.success_count, stats.failed_count) == (31, 26, 5)
    await assert_true_counts(store)


async def test_a_fold_is_written_when_its_window_ends(store: fv.Store) -> None:
    async with store.verifications.logger(cache_hits="fold", fold_seconds=0.5) as log:
        log.record(hit(1))
        log.record(hit(1))
        with anyio.fail_after(10):
            while (await store.stats.get()).total_verifications < 2:
                await anyio.sleep(0.05)
        assert log.pending == 0
        log.record(hit(1))  # a new window, a new event
    assert sorted(e["repeats"] for e in await raw_events(store)) == [0, 1]
    await assert_true_counts(store)


async def test_closing_writes_the_open_folds(store: fv.Store) -> None:
    with anyio.fail_after(20):
        async with store.verifications.logger(cache_hits="fold", fold_seconds=600) as log:
            for user in (1, 1, 2):
                log.record(hit(user))
    assert (await store.stats.get()).total_verifications == 3
    await assert_true_counts(store)


async def record_while_away(store: fv.Store, events: list[fv.Verification],
                            **settings: Any) -> fv.FlushTimeoutError:
    """Record ``events`` with a logger whose Firestore is unreachable (a restart during
    an outage): they stay in its spool; returns the close's FlushTimeoutError."""
    away = await fv.connect(project=store.project, emulator_host=refused_host(),
                            timeout=1, attempt_timeout=0.5)

    async def record() -> None:
        async with away.verifications.logger(close_timeout=2, **settings) as log:
            for event in events:
                log.record(event)

    try:
        with pytest.raises(fv.FlushTimeoutError) as caught:
            await record()
    finally:
        await away.close()
    return caught.value


async def test_folded_hits_are_kept_by_the_spool_until_their_event_lands(
        store: fv.Store, tmp_path: Path) -> None:
    spool = tmp_path / "events.sqlite"
    timed_out = await record_while_away(store, [hit(1) for _ in range(3)],
                                        cache_hits="fold", spool=spool)
    assert [e.checks for e in timed_out.unwritten] == [3]
    with fv.EventSpool(spool) as left:
        # One entry: the fold as it stood, counting all three accepted hits.
        assert [e.checks for e in left.pending()] == [3]
    # The next start writes that event and clears it.
    async with store.verifications.logger(cache_hits="fold", spool=spool) as again:
        await again.flush()
    assert (again.stats.replayed, again.stats.committed) == (1, 1)
    with fv.EventSpool(spool) as left:
        assert len(left) == 0, "the fold was left in the spool"
    assert (await store.stats.get()).total_verifications == 3
    await assert_true_counts(store)


async def test_a_replay_keeps_a_later_fold_apart_from_a_committed_one(
        store: fv.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold committed but still spooled (the process died before clearing it), and
    the next fold of the same user, group, channel and outcome: replayed, the first is
    skipped (stored already) and the second written, not folded into the first."""
    spool = tmp_path / "events.sqlite"

    def cannot_clear(self: fv.EventSpool, ids: object) -> None:
        raise fv.SpoolError("disk gone (the test)")

    with monkeypatch.context() as patch:  # as if it died before clearing the spool
        patch.setattr(fv.EventSpool, "acknowledge", cannot_clear)
        async with store.verifications.logger(cache_hits="fold", spool=spool) as first:
            for _ in range(3):
                first.record(hit(1))
            await first.flush()  # the fold of three is committed, and stays spooled
        assert (await store.stats.get()).total_verifications == 3
        # A restart while Firestore is away: the next fold of the same key is accepted.
        await record_while_away(store, [hit(1) for _ in range(2)],
                                cache_hits="fold", spool=spool)
    with fv.EventSpool(spool) as left:
        assert sum(e.checks for e in left.pending()) == 5  # every accepted check
    async with store.verifications.logger(cache_hits="fold", spool=spool) as third:
        await third.flush()
    assert (await store.stats.get()).total_verifications == 5, "a fold's hits were lost"
    assert (third.stats.replayed, third.stats.already_stored) == (2, 1)
    with fv.EventSpool(spool) as left:
        assert len(left) == 0
    await assert_true_counts(store)


async def test_a_replayed_sample_is_not_sampled_again(store: fv.Store, tmp_path: Path) -> None:
    """The spool keeps the kept hits of a sample, each standing for the others: a
    replay writes each as it is (sampling it again would drop or inflate it)."""
    spool = tmp_path / "events.sqlite"
    await record_while_away(store, [hit(user) for user in range(1, 10)],
                            cache_hits="sample", sample_every=3, spool=spool)
    with fv.EventSpool(spool) as left:
        assert [e.checks for e in left.pending()] == [3, 3, 3]
    async with store.verifications.logger(cache_hits="sample", sample_every=3,
                                          spool=spool) as again:
        await again.flush()
    assert again.stats.replayed == 3
    assert (await store.stats.get()).total_verifications == 9


async def test_a_sample_stores_one_hit_in_n_and_counts_stay_consistent(
        store: fv.Store) -> None:
    async with store.verifications.logger(cache_hits="sample", sample_every=5) as log:
        for _ in range(20):
            log.record(hit(1))
        log.record(hit(2, cached=False))
    assert (log.stats.sampled_out, log.stats.committed) == (16, 5)
    assert (await store.stats.get()).total_verifications == 21
    await assert_true_counts(store)
