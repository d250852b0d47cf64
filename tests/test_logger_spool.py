"""The logger's durable spool: what was accepted survives the process, and counts once."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_events import assert_counters_match_events, make_events

import firestore_verify as fv
from firestore_verify.testing import refused_host

pytestmark = pytest.mark.anyio


async def test_events_spooled_while_firestore_is_away_are_written_on_the_next_start(
        store: fv.Store, tmp_path: Path) -> None:
    spool = tmp_path / "events.spool"
    events = make_events(30)
    await store.verifications.write_many(events[:10])  # these landed before the outage
    away = await fv.connect(project=store.project, emulator_host=refused_host(),
                            timeout=1, attempt_timeout=0.5)

    async def record_all() -> None:
        async with away.verifications.logger(spool=spool, close_timeout=2) as log:
            for event in events:
                log.record(event)

    try:
        with pytest.raises(fv.FlushTimeoutError) as caught:
            await record_all()
    finally:
        await away.close()
    assert len(caught.value.unwritten) == 30
    with fv.EventSpool(spool) as left:
        assert [e.id for e in left.pending()] == [e.id for e in events]

    # The next start, with Firestore back: replayed, the 10 that landed are not counted again.
    async with store.verifications.logger(spool=spool) as log:
        await log.flush()
    assert (log.stats.replayed, log.stats.recorded) == (30, 0)
    assert (log.stats.committed, log.stats.already_stored) == (20, 10)
    assert await store.verifications.count() == 30
    await assert_counters_match_events(store)
    with fv.EventSpool(spool) as left:
        assert len(left) == 0


async def test_a_spool_that_is_a_directory_fails_on_entering(store: fv.Store,
                                                             tmp_path: Path) -> None:
    with pytest.raises(fv.ConfigurationError):
        async with store.verifications.logger(spool=tmp_path):
            pass
