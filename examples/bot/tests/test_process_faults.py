"""Process faults: the bot as an OS process, stopped under traffic, and two processes at once.

The bot runs as ``python -m fsv_bot`` against the fake Bot API server (in this
process) and the Firestore emulator; simulated users keep acting while it is
stopped. What it took is read back from its log (see ``process_bots``).
"""

from __future__ import annotations

import functools
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
    difference,
    drive,
    stored_checks,
    stored_events,
    world,
)

import firestore_verify as fv

pytestmark = pytest.mark.anyio

#: Busy enough that the logger (1 commit per second per hot document) is always behind.
CONFIG = SimulationConfig(groups=3, channels=3, users=60, member_ratio=0.6, join_ratio=0.8,
                          leave_ratio=0.03, seed=5)


def lookups(api: FakeBotApi, channels: set[int]) -> Counter[tuple[int, int]]:
    """``(user, channel)`` of every membership lookup the server answered for the bot."""
    return Counter(
        (int(c.params["user_id"]), int(c.params["chat_id"]))
        for c in api.calls_to("getChatMember")
        if int(c.params["chat_id"]) in channels and int(c.params["user_id"]) != api.bot_id)


async def test_sigterm_under_traffic_stores_every_event_taken(
        firestore_emulator: Any, firestore_project: str, store: fv.Store, tmp_path: Path) -> None:
    with FakeBotApi() as api:
        traffic = world(api, CONFIG)
        # The production long-poll timeout (30 s): stopping must not wait for it.
        bot = BotProcess.start("bot", api, emulator_host=firestore_emulator.host,
                               project=firestore_project, directory=tmp_path)
        try:
            await bot.wait_ready()
            await traffic.protect_all()
            exited = False
            pending_at_sigterm = 0
            checks_at_sigterm = 0.0

            async def stop_when_busy() -> None:
                nonlocal exited, pending_at_sigterm, checks_at_sigterm
                # Stop it mid-stream: events taken but not yet committed, users still acting.
                deadline = time.monotonic() + 60
                while True:
                    health = await bot.health()
                    checks = await bot.metric("fsv_verifications_total")
                    if health["events_pending"] > 0 and checks >= 150:
                        break
                    assert time.monotonic() < deadline, (
                        f"the bot never had events pending after 150 checks in 60 s "
                        f"({checks:g} checks, {health}):\n{bot.log_tail()}")
                    await anyio.sleep(0.02)
                pending_at_sigterm, checks_at_sigterm = health["events_pending"], checks
                assert await bot.stop(within=30) == 0, bot.log_tail()
                exited = True

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(stop_when_busy)
                tasks.start_soon(lambda: drive(traffic, rate=100, until=lambda: exited))
        finally:
            bot.kill()
        channels = {c for chans in traffic.groups.values() for c in chans}
        answered = lookups(api, channels)

    assert pending_at_sigterm > 0
    assert checks_at_sigterm >= 150
    assert bot.stop_seconds is not None
    assert bot.stop_seconds < 30
    lines = bot.lines()
    assert any(line["msg"] == "received SIGTERM, stopping" for line in lines)
    taken = bot.checks()
    events = await stored_events(store)
    stored = stored_checks(events)
    assert stored == taken, "stored events != events the bot took: " + difference(stored, taken)
    # Every lookup Telegram answered became an event: no check was cut off by the stop.
    uncached = Counter((e["user_id"], e["channel_id"]) for e in events if not e["cached"])
    assert uncached == answered, (
        f"{sum((answered - uncached).values())} answered lookups have no event, "
        f"{sum((uncached - answered).values())} events have no lookup")
    stats = await assert_counters_equal_a_recount(store)
    assert stats.total_verifications == len(events) >= checks_at_sigterm
    assert stats.total_groups == CONFIG.groups


async def test_two_processes_with_overlapping_users_count_exactly(
        firestore_emulator: Any, firestore_project: str, store: fv.Store, tmp_path: Path) -> None:
    # Two bots (two tokens, two Telegram worlds with the same users, groups and
    # channels) on one Firestore project: the same users' documents and the same
    # rollups are written by both processes at once.
    with FakeBotApi("111111:BOT-A") as api_a, FakeBotApi("222222:BOT-B") as api_b:
        traffic = {"a": world(api_a, CONFIG), "b": world(api_b, CONFIG, traffic_seed=99)}
        bots = {name: BotProcess.start(name, t.api, emulator_host=firestore_emulator.host,
                                       project=firestore_project, directory=tmp_path,
                                       env={"FSV_POLL_TIMEOUT": "1"})
                for name, t in traffic.items()}
        try:
            async with anyio.create_task_group() as tasks:
                for bot in bots.values():
                    tasks.start_soon(bot.wait_ready)
            async with anyio.create_task_group() as tasks:  # both /protect the same groups
                for t in traffic.values():
                    tasks.start_soon(t.protect_all)
            async with anyio.create_task_group() as tasks:
                for t in traffic.values():
                    tasks.start_soon(functools.partial(drive, t, rate=60, until=lambda: False,
                                                       messages=250))
            async with anyio.create_task_group() as tasks:
                for bot in bots.values():
                    tasks.start_soon(bot.wait_idle)
            codes = {}

            async def stop(name: str) -> None:
                codes[name] = await bots[name].stop(within=30)

            async with anyio.create_task_group() as tasks:
                for name in bots:
                    tasks.start_soon(stop, name)
        finally:
            for bot in bots.values():
                bot.kill()

    assert codes == {"a": 0, "b": 0}, {n: b.log_tail() for n, b in bots.items()}
    taken = {name: bot.checks() for name, bot in bots.items()}
    users = {name: {check[0] for check in checks} for name, checks in taken.items()}
    assert len(users["a"] & users["b"]) >= 20, users  # the overlap the test is about
    assert all(traffic[name].report.messages == 250 for name in traffic)
    events = await stored_events(store)
    both = taken["a"] + taken["b"]
    assert stored_checks(events) == both, "stored != taken by both: " + difference(
        stored_checks(events), both)
    stats = await assert_counters_equal_a_recount(store)
    assert stats.total_verifications == len(events) == sum(both.values())
    assert stats.total_groups == CONFIG.groups
    assert stats.total_users == len(users["a"] | users["b"])

