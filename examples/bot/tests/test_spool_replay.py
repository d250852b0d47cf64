"""SIGKILL under traffic, then a restart on the same spool: no event the bot took is lost.

Needs the logger's spool (``store.verifications.logger(spool=path)``, which the bot
passes from ``FSV_EVENT_SPOOL``): every event is appended to the spool before
``put()`` returns, acknowledged once committed, and replayed on the next start.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from fsv_bot.fake_telegram import FakeBotApi
from fsv_bot.simulate import SimulationConfig
from process_bots import (
    BotProcess,
    assert_counters_equal_a_recount,
    check_of,
    difference,
    drive,
    stored_by_id,
    world,
)

import firestore_verify as fv
from firestore_verify.spool import EventSpool

pytestmark = pytest.mark.anyio

CONFIG = SimulationConfig(groups=3, channels=3, users=60, member_ratio=0.6, join_ratio=0.8,
                          leave_ratio=0.03, seed=8)


async def test_sigkill_then_restart_replays_the_spool(
        firestore_emulator: Any, firestore_project: str, store: fv.Store, tmp_path: Path) -> None:
    spool_path = tmp_path / "events.spool"
    env = {"FSV_POLL_TIMEOUT": "1", "FSV_EVENT_SPOOL": str(spool_path)}
    with FakeBotApi() as api:
        traffic = world(api, CONFIG)
        first = BotProcess.start("first", api, emulator_host=firestore_emulator.host,
                                 project=firestore_project, directory=tmp_path, env=env)
        second: BotProcess | None = None
        try:
            await first.wait_ready()
            await traffic.protect_all()
            killed = False

            async def kill_when_busy() -> None:
                nonlocal killed
                deadline = time.monotonic() + 60
                while True:
                    health = await first.health()
                    if (health["events_pending"] >= 50
                            and await first.metric("fsv_verifications_total") >= 150):
                        break
                    assert time.monotonic() < deadline, (
                        f"the bot never had 50 events pending after 150 checks in 60 s "
                        f"({health}):\n{first.log_tail()}")
                    await anyio.sleep(0.02)
                first.signal(signal.SIGKILL)
                assert await first.wait_exit(within=30) == -signal.SIGKILL
                killed = True

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(kill_when_busy)
                tasks.start_soon(lambda: drive(traffic, rate=100, until=lambda: killed))

            taken_first = first.checks()
            stored_before = await stored_by_id(store)
            with EventSpool(spool_path) as spool:
                spooled = {e.id: check_of(e) for e in spool.pending()}
            # The kill did lose events from memory: only the spool still has them.
            assert sum(taken_first.values()) > len(stored_before), (
                "everything was committed before the kill: the test proves nothing")
            kept = Counter({**stored_before, **spooled}.values())
            assert not taken_first - kept, (
                "events the killed bot took are neither stored nor spooled: "
                + difference(taken_first, kept))

            # Same spool, same server: it replays the spool, and Telegram redelivers the
            # updates the killed bot fetched but never confirmed.
            second = BotProcess.start("second", api, emulator_host=firestore_emulator.host,
                                      project=firestore_project, directory=tmp_path, env=env)
            await second.wait_ready()
            # The replay commits while the bot runs, not only when it stops.
            deadline = time.monotonic() + 60
            while missing := set(spooled) - set(await stored_by_id(store)):
                assert time.monotonic() < deadline, (
                    f"{len(missing)} of {len(spooled)} spooled events were not replayed "
                    f"within 60 s:\n{second.log_tail()}")
                await anyio.sleep(0.1)
            assert await second.stop(within=30) == 0, second.log_tail()
        finally:
            first.kill()
            if second is not None:
                second.kill()

    stored = await stored_by_id(store)
    taken = taken_first + second.checks()
    everything = Counter(stored.values())
    assert not taken - everything, "taken events were lost: " + difference(taken, everything)
    # Stored beyond what was logged: only events spooled in the instant before the kill,
    # before their log line was written.
    extra = everything - taken
    assert not extra - Counter(spooled.values()), difference(everything, taken)
    assert sum(extra.values()) <= 64, extra
    await assert_counters_equal_a_recount(store)
    with EventSpool(spool_path) as spool:
        assert len(spool) == 0, "the committed events were not acknowledged"
