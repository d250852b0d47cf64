"""Two bot processes sharing one membership cache on a real redis-server (``FSV_REDIS_URL``).

Each "process" is a :func:`running_bot` with its own fake Bot API server (its own
front door to Telegram), both on the same Firestore emulator store and the same Redis.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from conftest import CHANNEL, GROUP, OWNER, USER, events, protect, wait_for
from fsv_bot.app import BotRuntime, running_bot
from fsv_bot.config import ConfigError, Settings
from fsv_bot.fake_telegram import Call, FakeBotApi
from fsv_bot.simulate import settle

import firestore_verify as fv
from firestore_verify.testing import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def other_api() -> Iterator[FakeBotApi]:
    """The second process's Bot API server, showing the same Telegram world as ``world``."""
    with FakeBotApi() as api:
        api.add_user(OWNER, "Alice", username="alice")
        api.add_user(USER, "Bob", username="bob")
        api.add_group(GROUP, "Crypto Chat", owner_id=OWNER)
        api.set_member(GROUP, USER, "member")
        api.add_channel(CHANNEL, "News", username="news", owner_id=OWNER)
        yield api


def on_redis(api: FakeBotApi, server: RedisServer) -> Settings:
    return Settings.from_env({
        "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
        "FSV_POLL_TIMEOUT": "1", "FSV_METRICS_PORT": "0", "FSV_REDIS_URL": server.url,
    })


@pytest.fixture
async def first(world: FakeBotApi, redis_server: RedisServer,
                store: fv.Store) -> AsyncIterator[BotRuntime]:
    """The first bot process, on ``world`` and Redis."""
    async with running_bot(on_redis(world, redis_server), store=store) as running:
        yield running


@pytest.fixture
async def second(other_api: FakeBotApi, redis_server: RedisServer,
                 store: fv.Store) -> AsyncIterator[BotRuntime]:
    """The second bot process, on ``other_api`` and the same Redis."""
    async with running_bot(on_redis(other_api, redis_server), store=store) as running:
        yield running


def invalidations(runtime: BotRuntime) -> int:
    """Invalidations ``runtime``'s Redis cache received from the other process."""
    cache = runtime.cache
    assert isinstance(cache, fv.RedisMembershipCache)
    return cache.stats.invalidations_received


def channel_lookups(api: FakeBotApi) -> list[Call]:
    """The ``getChatMember`` calls that asked about USER in CHANNEL."""
    return [c for c in api.calls_to("getChatMember")
            if int(c.params["chat_id"]) == CHANNEL and int(c.params["user_id"]) == USER]


async def test_a_user_verified_through_one_process_may_speak_through_the_other_at_once(
        world: FakeBotApi, other_api: FakeBotApi, first: BotRuntime, second: BotRuntime,
) -> None:
    await protect(first, CHANNEL)
    await wait_for(lambda: second.registry.get(GROUP) is not None)
    assert (first.cache_status, second.cache_status) == ("redis", "redis")

    # Not a member: the second process blocks the user and stores the answer in Redis.
    message = other_api.send_message(GROUP, USER, "hi")
    await settle(other_api, second)
    assert other_api.is_deleted(GROUP, message["message_id"])
    assert len(channel_lookups(other_api)) == 1

    # The first process knows it from Redis: it blocks without asking Telegram.
    world.send_message(GROUP, USER, "hello?")
    await world.wait_for_call("sendMessage")
    await settle(world, first)
    assert channel_lookups(world) == []
    warning = world.last_sent(GROUP)

    # The user joins and presses "I have joined" there: a fresh check, stored in Redis.
    # The join's chat_member update drops the cached "no" everywhere first: wait until
    # the second process heard of it, or that drop could land after the fresh answer.
    heard = invalidations(second)
    world.join(CHANNEL, USER)
    await wait_for(lambda: invalidations(second) > heard)
    query = world.press_button(warning, user_id=USER)
    await wait_for(lambda: world.callback_answer(query) is not None)
    assert world.callback_answer(query)["text"] == "Verified, you can write now."  # type: ignore[index]
    assert len(channel_lookups(world)) == 1
    # Telegram's state is one: the second server's copy follows (silently, no update).
    other_api.set_member(CHANNEL, USER, "member")
    other_api.set_member(GROUP, USER, "member")

    # The second process lets the user speak at once, from the shared cache.
    mark = other_api.mark()
    message = other_api.send_message(GROUP, USER, "thanks!")
    await settle(other_api, second)
    assert not other_api.is_deleted(GROUP, message["message_id"])
    assert len(channel_lookups(other_api)) == 1, "the second process asked Telegram again"
    assert not [c for c in other_api.calls[mark:] if c.method == "restrictChatMember"]
    # Both processes log to one store: second, first (from Redis), first fresh, second.
    await second.events.flush()
    logged = await events(first, user_id=USER)
    assert [(e.status, e.cached) for e in logged] == [
        (fv.Status.FAILED, False), (fv.Status.FAILED, True),
        (fv.Status.SUCCESS, False), (fv.Status.SUCCESS, True)]


async def test_health_and_metrics_report_a_degraded_cache_that_recovers(
        world: FakeBotApi, redis_server: RedisServer, first: BotRuntime) -> None:
    await protect(first, CHANNEL)
    assert first.metrics_url is not None
    async with httpx.AsyncClient(base_url=first.metrics_url) as http:
        health = await http.get("/health")
        assert health.json()["cache"] == "redis"
        assert "fsv_cache_degraded 0.0" in (await http.get("/metrics")).text

        redis_server.stop()
        # The bot keeps checking (Telegram, then memory) and stays healthy.
        message = world.send_message(GROUP, USER, "hi")
        await settle(world, first)
        assert world.is_deleted(GROUP, message["message_id"])
        await wait_for(lambda: first.cache_status == "degraded")
        health = await http.get("/health")
        assert health.status_code == 200
        assert (health.json()["status"], health.json()["cache"]) == ("ok", "degraded")
        body = (await http.get("/metrics")).text
        assert "fsv_cache_degraded 1.0" in body
        errors = re.search(r"^fsv_cache_redis_errors_total (\S+)$", body, re.MULTILINE)
        assert errors is not None
        assert float(errors.group(1)) >= 1

        redis_server.start()  # same port: the cache reconnects by itself
        await wait_for(lambda: first.cache_status == "redis", within=30)
        assert (await http.get("/health")).json()["cache"] == "redis"
        assert "fsv_cache_degraded 0.0" in (await http.get("/metrics")).text


async def test_without_redis_the_cache_is_in_memory(runtime: BotRuntime) -> None:
    assert runtime.settings.redis_url is None
    assert type(runtime.cache) is fv.MembershipCache
    assert runtime.cache_status == "memory"
    assert runtime.health()[1]["cache"] == "memory"


def test_a_redis_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="FSV_REDIS_URL must start with redis://") as caught:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "FSV_REDIS_URL": "http://u:pw@host"})
    assert "pw" not in str(caught.value)
