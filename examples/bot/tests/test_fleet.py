"""The fleet, for real: four bot processes in webhook mode behind nginx, on one Firestore.

The local Bot API server (in this process) POSTs every update to nginx, which balances
them round robin over the four ``python -m fsv_bot`` processes; their loggers share the
counter shards through leases (``FSV_EVENT_LEASES``), and their membership cache lives
in one ``redis-server`` (``FSV_REDIS_URL``). Simulated users act on the server.
What each bot took is read back from its log (see ``process_bots``).

The first tests check the server's webhook delivery on its own (no fleet). The fleet
is started once for the module; its tests run in file order, the destructive ones
(Redis stopped, a process killed) last.
"""

from __future__ import annotations

import functools
import itertools
import os
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from fleet import (
    Fleet,
    FleetBot,
    HotDocumentWrites,
    NginxNotFoundError,
    assert_rollups_equal_a_recount,
    find_nginx,
    self_signed_certificate,
    utc_now,
)
from fsv_bot.fake_telegram import FakeBotApi
from fsv_bot.fake_webhook import SECRET_HEADER
from fsv_bot.notices import verify_data
from fsv_bot.simulate import SimulationConfig, Traffic
from process_bots import (
    assert_counters_equal_a_recount,
    difference,
    drive,
    stored_checks,
    stored_events,
    world,
)
from telegram import Bot
from telegram.error import Conflict

import firestore_verify as fv
from firestore_verify.testing.redis_server import RedisNotFoundError, RedisServer

pytestmark = pytest.mark.anyio

CONFIG = SimulationConfig(groups=3, channels=3, users=60, member_ratio=0.6, join_ratio=0.8,
                          leave_ratio=0.03, seed=11)
BOTS = 4
SHARDS = 4
#: Short, so that a killed bot's shards are taken over within seconds.
LEASE_SECONDS = 6
#: A killed bot's lease lapses LEASE_SECONDS after its last renewal, and a survivor takes
#: it at its next renewal (every LEASE_SECONDS / 3), give or take a slow renewal: 10 s.
TAKEOVER_SECONDS = LEASE_SECONDS + 2 * LEASE_SECONDS / 3 + 10
#: The shortest gap allowed between two writes of one hot document. Each shard has one
#: writer that spends a token (one per second) just before sending a commit; the
#: commit lands some milliseconds later, not always the same number (two commits a
#: second apart may land a little closer), so the measured gap gets this much slack.
MIN_GAP = 0.7


# ---------------------------------------------------------------------------- the webhook alone


@dataclass
class Receiver:
    """A TLS webhook endpoint in this process: records every request, fails on command."""

    certificate: Path
    key: Path
    requests: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    fail_next: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        """Its ``https://`` URL."""
        return f"https://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        """Record the update; answer 500 while ``fail_next`` lasts, else 200."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500)
        self.requests.append((await request.json(), request.headers.get(SECRET_HEADER)))
        return web.Response(text="ok")


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    """A webhook endpoint with a self-signed certificate (see ``hooked_api``)."""
    certificate, key = self_signed_certificate(tmp_path)
    endpoint = Receiver(certificate, key)
    app = web.Application()
    app.router.add_post("/hook", endpoint.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    endpoint.port = int(runner.addresses[0][1])
    try:
        yield endpoint
    finally:
        await runner.cleanup()


@pytest.fixture
async def hooked(receiver: Receiver) -> AsyncIterator[tuple[FakeBotApi, Bot]]:
    """A fake Bot API server trusting the receiver's certificate, and a PTB Bot on it."""
    with FakeBotApi(webhook_cafile=receiver.certificate) as api:
        api.add_group(-1001, "One")
        api.add_group(-1002, "Two")
        async with Bot(api.token, base_url=api.base_url) as bot:
            yield api, bot


async def test_webhook_gets_every_update_once_in_order_per_chat_with_the_secret(
        receiver: Receiver, hooked: tuple[FakeBotApi, Bot]) -> None:
    api, bot = hooked
    assert await bot.set_webhook(receiver.url, secret_token="s3cret-token_1")
    sent = [api.send_message(-1001 if i % 3 else -1002, 7, f"m{i}") for i in range(12)]
    await api.wait_until(lambda: api.webhook.delivered == 12, within=10)

    got = [update for update, _ in receiver.requests]
    assert sorted(u["update_id"] for u in got) == list(range(1, 13)), "not each update once"
    assert {secret for _, secret in receiver.requests} == {"s3cret-token_1"}
    for chat in (-1001, -1002):
        texts = [u["message"]["text"] for u in got if u["message"]["chat"]["id"] == chat]
        assert texts == [m["text"] for m in sent if m["chat"]["id"] == chat], "out of order"
    assert api.pending_updates == []
    assert (await bot.get_webhook_info()).pending_update_count == 0
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_webhook_retries_failures_and_delete_webhook_stops_it(
        receiver: Receiver, hooked: tuple[FakeBotApi, Bot]) -> None:
    api, bot = hooked
    # Nothing listens on the first URL: connection errors, retried with backoff...
    with refused_port() as port:
        assert await bot.set_webhook(f"https://127.0.0.1:{port}/hook")
        api.send_message(-1001, 7, "first")
        await api.wait_until(lambda: api.webhook.failed_attempts >= 2, within=10)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message
    assert info.last_error_date is not None
    # ...then the right URL, answering 500 twice: delivered on the third attempt there.
    api.webhook.pause()
    await api.wait_until(lambda: api.webhook.in_flight == 0)
    receiver.fail_next = 2
    failed_before = api.webhook.failed_attempts
    assert await bot.set_webhook(receiver.url)
    api.webhook.resume()
    await api.wait_until(lambda: api.webhook.delivered == 1, within=10)
    assert api.webhook.failed_attempts == failed_before + 2
    assert [u["message"]["text"] for u, _ in receiver.requests] == ["first"]
    assert receiver.requests[0][1] is None  # no secret_token, no header

    # Paused: updates queue up and the count says so.
    api.webhook.pause()
    api.send_message(-1001, 7, "second")
    api.send_message(-1002, 7, "third")
    assert (await bot.get_webhook_info()).pending_update_count == 2
    api.webhook.resume()
    await api.wait_until(lambda: api.webhook.delivered == 3, within=10)

    assert await bot.delete_webhook()
    api.send_message(-1001, 7, "polled")
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["polled"]
    assert api.webhook.delivered == 3
    assert all(a.update_id != updates[0].update_id for a in api.webhook.attempts)


@contextmanager
def refused_port() -> Iterator[int]:
    """A port bound (so nobody else gets it) but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- the fleet


@dataclass
class FleetRun:
    """The module's fleet, its world and the shared Redis."""

    fleet: Fleet
    traffic: Traffic
    redis: RedisServer
    hot: HotDocumentWrites

    @property
    def api(self) -> FakeBotApi:
        """The fake Bot API server."""
        return self.fleet.api

    @property
    def store(self) -> fv.Store:
        """A store on the fleet's project (this process's own client)."""
        return self.fleet.store


def _required() -> bool:
    return os.environ.get("FIRESTORE_VERIFY_REQUIRE_EMULATOR", "").strip().lower() in (
        "1", "true", "yes", "on")


@pytest.fixture(scope="module")
async def fleet_run(firestore_emulator: Any, tmp_path_factory: pytest.TempPathFactory,
                    ) -> AsyncIterator[FleetRun]:
    """Four bots behind nginx on a fresh project, every group protected, leases balanced."""
    try:
        find_nginx()
    except NginxNotFoundError as exc:
        if _required():
            pytest.fail(f"{exc} (FIRESTORE_VERIFY_REQUIRE_EMULATOR is set)", pytrace=False)
        pytest.skip(str(exc))
    directory = tmp_path_factory.mktemp("fleet")
    certificate, key = self_signed_certificate(directory)
    project = f"test-{uuid.uuid4().hex[:16]}"
    async with AsyncExitStack() as stack:
        stack.callback(firestore_emulator.wipe, project)
        store = await fv.connect(project=project, emulator_host=firestore_emulator.host)
        stack.push_async_callback(store.close)
        try:
            redis = stack.enter_context(RedisServer())
        except RedisNotFoundError as exc:
            pytest.fail(str(exc), pytrace=False)
        api = stack.enter_context(FakeBotApi(webhook_cafile=certificate))
        traffic = world(api, CONFIG)
        fleet = Fleet(api, store, firestore_emulator.host, directory, certificate, key,
                      size=BOTS, shards=SHARDS, lease_seconds=LEASE_SECONDS,
                      redis_url=redis.url)
        stack.push_async_callback(fleet.stop)
        await fleet.start()
        await fleet.wait_leases_balanced(within=TAKEOVER_SECONDS)
        await traffic.protect_all()
        await fleet.wait_for_health("protected_groups", CONFIG.groups, within=30)
        hot = HotDocumentWrites(store).start()
        stack.callback(hot.close)
        yield FleetRun(fleet, traffic, redis, hot)


async def _traffic(run: FleetRun, *, messages: int, rate: float = 40) -> None:
    """``messages`` more simulated messages, then wait until the fleet handled and stored all."""
    target = run.traffic.report.messages + messages
    await drive(run.traffic, rate=rate, until=lambda: False, messages=target)
    await run.fleet.wait_idle()
    await run.fleet.wait_committed()


async def _assert_stored_equals_taken(run: FleetRun) -> list[dict[str, Any]]:
    events = await stored_events(run.store)
    stored, taken = stored_checks(events), run.fleet.taken()
    assert stored == taken, "stored events != events the bots took: " + difference(stored, taken)
    return events


def _assert_no_hot_document_outpaced(run: FleetRun, since: Any) -> None:
    writes = run.hot.writes_since(since)
    written = {path: len(times) for path, times in writes.items() if len(times) >= 2}
    # Not vacuous: several hot documents were written again and again meanwhile.
    assert len(written) >= 3, f"too few hot documents written twice to measure: {written}"
    closest = run.hot.closest_writes(since)
    assert closest is not None
    gap, path = closest
    times = writes[path]
    pair = next((a, b) for a, b in itertools.pairwise(times) if (b - a).total_seconds() == gap)
    assert gap >= MIN_GAP, (
        f"{path} was written twice {gap:.3f} s apart, at {pair[0].isoformat()} and "
        f"{pair[1].isoformat()}: more than once per second ({len(times)} versions seen). "
        f"Shard leases meanwhile:\n{run.fleet.lease_changes(since)}")


async def test_the_fleet_counts_exactly(fleet_run: FleetRun) -> None:
    run = fleet_run
    await _traffic(run, messages=200, rate=50)

    received = run.fleet.received()
    assert all(received[b.webhook_port] > 0 for b in run.fleet.bots), (
        f"round robin did not reach every bot: accepted by port {dict(received)}")
    assert run.api.webhook.dropped == 0
    events = await _assert_stored_equals_taken(run)
    assert len({check[0] for check in run.fleet.taken()}) >= 20
    stats = await assert_counters_equal_a_recount(run.store)
    assert stats.total_verifications == len(events) > 0
    assert stats.total_groups == CONFIG.groups
    await assert_rollups_equal_a_recount(run.store, events)


async def test_no_hot_document_is_written_more_than_once_a_second(fleet_run: FleetRun) -> None:
    run = fleet_run
    since = utc_now()
    # Fast enough that every shard's writer always has events waiting for its token.
    await _traffic(run, messages=250, rate=60)
    _assert_no_hot_document_outpaced(run, since)


async def test_a_join_seen_by_one_process_lets_the_user_speak_through_every_other(
        fleet_run: FleetRun) -> None:
    run, api = fleet_run, fleet_run.api
    group = next(iter(run.traffic.groups))
    channels = run.traffic.groups[group]
    user = 990_001
    api.add_user(user, "Newcomer")
    api.set_member(group, user, "member")
    ports = {b.webhook_port for b in run.fleet.alive}

    # A burst before any bot acts: round robin hands it to every process, and each one
    # finds the user missing from the channels (and mutes them).
    before = await _burst(run, group, user, 2 * len(ports))
    assert run.fleet.receivers(set(before)) == ports, "the burst did not reach every bot"
    assert all(api.is_deleted(group, message_id) for message_id in before.values())
    assert api.status(group, user) == "restricted"

    for channel in channels:
        api.join(channel, user)
    warning = next(m for m in reversed(api.sent_messages(group))
                   if any(b.get("callback_data") == verify_data(user)
                          for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                          for b in row))
    query = api.press_button(warning, user_id=user)
    await api.wait_until(lambda: api.can_send_messages(group, user), within=15)
    await run.fleet.wait_idle()
    assert api.callback_answer(query) is not None

    # At once, through every process: none still holds "not a member" for them.
    after = await _burst(run, group, user, 2 * len(ports))
    assert run.fleet.receivers(set(after)) == ports, "the second burst did not reach every bot"
    deleted = [m for m in after.values() if api.is_deleted(group, m)]
    assert not deleted, f"{len(deleted)} of {len(after)} messages were deleted after the join"
    assert api.can_send_messages(group, user), "a process muted the user again"
    await run.fleet.wait_committed()
    await _assert_stored_equals_taken(run)


async def _burst(run: FleetRun, group: int, user: int, count: int) -> dict[int, int]:
    """``count`` messages from ``user`` queued at once, then handled: update id -> message id."""
    api = run.api
    api.webhook.pause()
    try:
        sent = [api.send_message(group, user, f"msg {i}") for i in range(count)]
        ids = {u["update_id"]: u["message"]["message_id"] for u in api.pending_updates
               if "message" in u and u["message"].get("from", {}).get("id") == user
               and u["message"]["message_id"] in {m["message_id"] for m in sent}}
    finally:
        api.webhook.resume()
    await run.fleet.wait_idle()
    return ids


async def test_redis_stopped_mid_run_degrades_and_recovers(fleet_run: FleetRun) -> None:
    run, fleet = fleet_run, fleet_run.fleet
    await fleet.wait_for_health("cache", "redis", within=30)
    outage_over = False

    async def outage() -> None:
        nonlocal outage_over
        await anyio.to_thread.run_sync(run.redis.stop)
        await fleet.wait_for_health("cache", "degraded", within=30)
        # Degraded, and still handling: every bot takes more updates while Redis is away.
        handled = await fleet.handled()
        deadline = time.monotonic() + 30
        while any(n <= handled[p] for p, n in (await fleet.handled()).items()):
            assert time.monotonic() < deadline, (
                f"not every bot handled an update while Redis was down: before {handled}, "
                f"now {await fleet.handled()}")
            await anyio.sleep(0.1)
        # Degraded is not unhealthy: the bots keep checking, from memory.
        await fleet.wait_for_health("cache", "degraded", within=1)
        await fleet.wait_for_health("status", "ok", within=1)
        await anyio.to_thread.run_sync(run.redis.start)
        # The cache retries with a backoff capped at 30 s; the bots reach Redis again.
        await fleet.wait_for_health("cache", "redis", within=40)
        outage_over = True

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(outage)
        tasks.start_soon(functools.partial(drive, run.traffic, rate=30,
                                           until=lambda: outage_over))
    await fleet.wait_idle()
    await fleet.wait_committed()
    await _assert_stored_equals_taken(run)
    await assert_counters_equal_a_recount(run.store)


async def test_sigkill_loses_none_of_the_others_events_and_its_shards_are_taken_over(
        fleet_run: FleetRun) -> None:
    run, fleet = fleet_run, fleet_run.fleet
    owners = await fleet.wait_leases_balanced(within=TAKEOVER_SECONDS)
    # The holder of shard 0: its documents (_metadata/stats) are the hottest.
    victim = next(b for b in fleet.alive if b.lease_owner() == owners[0])
    victim_owner = victim.lease_owner()
    survivors = [b for b in fleet.alive if b is not victim]
    since = utc_now()
    takeover_seconds: float | None = None
    done = False

    async def kill_then_watch_the_leases() -> None:
        nonlocal takeover_seconds, done
        start = await victim.process.metric("fsv_verifications_total")
        deadline = time.monotonic() + 30
        while await victim.process.metric("fsv_verifications_total") < start + 30:
            assert time.monotonic() < deadline, "the victim took no traffic"
            await anyio.sleep(0.05)
        fleet.kill(victim)  # whatever it was doing: a renewal takes no lock
        killed_at = time.monotonic()
        bound = TAKEOVER_SECONDS
        while True:
            now_owners = await fleet.lease_owners()
            if victim_owner not in now_owners.values() and None not in now_owners.values():
                takeover_seconds = time.monotonic() - killed_at
                break
            assert time.monotonic() - killed_at < bound, (
                f"the killed bot's shards were not taken over within {bound:g} s: {now_owners}")
            await anyio.sleep(0.1)
        # And the fleet goes on taking events, written through the shards it took over.
        taken = await _checks(survivors)
        deadline = time.monotonic() + 30
        while await _checks(survivors) < taken + 60:
            assert time.monotonic() < deadline, "the survivors took no more traffic"
            await anyio.sleep(0.05)
        done = True

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(kill_then_watch_the_leases)
        tasks.start_soon(functools.partial(drive, run.traffic, rate=40, until=lambda: done))
    await fleet.wait_idle()
    await fleet.wait_committed()

    assert takeover_seconds is not None
    assert takeover_seconds <= TAKEOVER_SECONDS
    after = await fleet.wait_leases_balanced(within=TAKEOVER_SECONDS)
    assert set(after.values()) == {b.lease_owner() for b in survivors}
    events = await stored_events(run.store)
    stored = stored_checks(events)
    others = fleet.taken(b for b in fleet.bots if b is not victim)
    lost = others - stored
    assert not lost, f"{sum(lost.values())} events the other bots took were lost: {list(lost)[:3]}"
    extra = stored - fleet.taken()  # the victim's own are stored or lost, never invented
    assert not extra, f"{sum(extra.values())} stored events nobody took: {list(extra)[:3]}"
    await assert_counters_equal_a_recount(run.store)
    await assert_rollups_equal_a_recount(run.store, events)
    _assert_no_hot_document_outpaced(run, since)


async def _checks(bots: list[FleetBot]) -> float:
    """Membership checks the bots made so far (their ``/metrics``)."""
    return sum([await b.process.metric("fsv_verifications_total") for b in bots])
