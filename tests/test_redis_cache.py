"""RedisMembershipCache on a real redis-server: shared answers, invalidation, TTLs, degradation."""

from __future__ import annotations

import asyncio
import importlib.util
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

import firestore_verify as fv
from firestore_verify.redis_cache import RedisMembershipCache
from firestore_verify.testing import RedisServer

pytestmark = pytest.mark.anyio

USER, OTHER = 7, 8
NEWS, TALK = -1001, -1002
GROUP = fv.GroupInfo(id=-1009, title="Chat")
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "redis_cache.py"
#: Fast reconnection for the tests: the first retry after 50 ms, never more than 200 ms apart.
FAST = {"retry_min": 0.05, "retry_max": 0.2, "timeout": 0.5}


@pytest.fixture
async def peek(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client, to look at the keys the caches write."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def cache(server: RedisServer, settings: fv.CacheSettings | None = None,
          **options: Any) -> RedisMembershipCache:
    return RedisMembershipCache.from_url(server.url, settings, **{**FAST, **options})


async def wait_until(predicate: Callable[[], object], what: str, *, within: float = 10.0,
                     poke: Callable[[], Awaitable[object]] | None = None) -> None:
    """Wait until ``predicate()`` is true, awaiting ``poke`` between looks; fail naming ``what``."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {within} s"
        if poke is not None:
            await poke()
        await asyncio.sleep(0.01)


# -- shared answers ----------------------------------------------------------------

async def test_a_join_recorded_by_one_process_is_seen_by_the_other_at_once(
        redis_server: RedisServer, peek: aioredis.Redis) -> None:
    async with cache(redis_server) as first, cache(redis_server) as second:
        await first.aset(USER, NEWS, False)
        assert await peek.get("verify:7:-1001") == "0"
        assert await second.aget(USER, NEWS) is False  # the other process's answer
        # "I have joined" in the first process: invalidate, ask Telegram, store.
        await first.ainvalidate(USER, [NEWS])
        assert await peek.get("verify:7:-1001") is None
        await first.aset(USER, NEWS, True)
        assert await second.aget(USER, NEWS) is True  # the very next look, no waiting
        stats = second.stats
        assert (stats.redis_hits, stats.local_hits, stats.misses) == (2, 0, 0)
        assert second.get(USER, NEWS) is True  # now held in front of Redis too
        assert await second.aget(USER, NEWS) is True
        assert second.stats.local_hits == 2
        assert not second.degraded
        assert second.status == "redis"
        assert await second.aget(OTHER, NEWS) is None
        assert second.stats.misses == 1


async def test_an_invalidation_reaches_the_other_process_memory(
        redis_server: RedisServer, peek: aioredis.Redis) -> None:
    async with cache(redis_server) as first, cache(redis_server) as second:
        assert first.stats.listening
        assert second.stats.listening
        for channel in (NEWS, TALK):
            await first.aset(USER, channel, True)
            assert await second.aget(USER, channel) is True
        assert (second.get(USER, NEWS), second.get(USER, TALK)) == (True, True)

        for garbage in ("not json", '{"from": "x"}', '{"from": "x", "keys": [["7", 1]]}'):
            await peek.publish("verify:invalidations", garbage)  # ignored, logged
        await first.ainvalidate(USER, [NEWS])  # the awaited form
        await wait_until(lambda: second.stats.invalidations_received == 1,
                         "the second process receiving the invalidation")
        assert second.get(USER, NEWS) is None
        assert second.get(USER, TALK) is True
        assert await second.aget(USER, NEWS) is None  # gone from Redis as well

        first.invalidate(USER, TALK)  # the synchronous form (a chat_member update)
        await wait_until(lambda: second.get(USER, TALK) is None,
                         "the second process dropping the answer invalidated synchronously")
        assert await peek.get("verify:7:-1002") is None

        # A non-member answer stored anywhere drops the member answer held in front.
        await first.aset(OTHER, NEWS, True)
        assert await second.aget(OTHER, NEWS) is True
        await first.aset(OTHER, NEWS, False)
        await wait_until(lambda: second.get(OTHER, NEWS) is None,
                         "a non-member answer dropping the other process's member answer")
        assert await second.aget(OTHER, NEWS) is False
        assert first.stats.invalidations_received == 0  # its own messages are not applied twice


async def test_invalidating_every_channel_of_a_user_or_every_user_of_a_channel(
        redis_server: RedisServer, peek: aioredis.Redis) -> None:
    async with cache(redis_server) as first, cache(redis_server) as second:
        for user in (USER, OTHER):
            for channel in (NEWS, TALK):
                await first.aset(user, channel, True)
                assert await second.aget(user, channel) is True
        await first.ainvalidate(USER)  # every channel: a keyspace scan
        assert sorted(await peek.keys("verify:*")) == ["verify:8:-1001", "verify:8:-1002"]
        await wait_until(lambda: second.get(USER, NEWS) is None and second.get(USER, TALK) is None,
                         "the second process dropping every answer of the user")
        await first.ainvalidate_channel(TALK)
        assert await peek.keys("verify:*") == ["verify:8:-1001"]
        await wait_until(lambda: second.get(OTHER, TALK) is None,
                         "the second process dropping every answer of the channel")
        assert second.get(OTHER, NEWS) is True


async def test_ttls_in_redis_are_within_the_jitter_bounds(
        redis_server: RedisServer, peek: aioredis.Redis) -> None:
    async with cache(redis_server, rng=random.Random(1)) as shared:
        for user in range(1, 41):
            await shared.aset(user, NEWS, True)
            await shared.aset(user, TALK, False)
        members = [await peek.pttl(f"verify:{user}:{NEWS}") for user in range(1, 41)]
        others = [await peek.pttl(f"verify:{user}:{TALK}") for user in range(1, 41)]
        slack = 5_000  # milliseconds that may pass between writing and reading
        assert all(600_000 * 0.85 - slack <= ttl <= 600_000 * 1.15 for ttl in members), members
        assert all(60_000 * 0.85 - slack <= ttl <= 60_000 * 1.15 for ttl in others), others
        assert len(set(members)) > 30, "the member TTLs are not jittered"
        assert len(set(others)) > 30, "the non-member TTLs are not jittered"
        assert {await peek.get(f"verify:{u}:{NEWS}") for u in range(1, 41)} == {"1"}
        assert {await peek.get(f"verify:{u}:{TALK}") for u in range(1, 41)} == {"0"}

    settings = fv.CacheSettings(positive_ttl=100, negative_ttl=0, jitter=0.5)
    async with cache(redis_server, settings) as custom:
        await custom.aset(USER, NEWS, True)
        assert 50_000 - 5_000 <= await peek.pttl("verify:7:-1001") <= 150_000
        await custom.aset(USER, TALK, False)  # non-member caching off: nothing stored
        assert await peek.exists("verify:7:-1002") == 0


async def test_the_synchronous_interface_is_a_drop_in(redis_server: RedisServer,
                                                      peek: aioredis.Redis) -> None:
    shared = cache(redis_server)
    async with shared, cache(redis_server) as other:
        assert isinstance(shared, fv.MembershipCache)
        shared.set(USER, NEWS, True)  # written to Redis in the background
        assert shared.get(USER, NEWS) is True
        await wait_until(lambda: other.stats.redis_hits == 1, "the background write reaching Redis",
                         poke=lambda: other.aget(USER, NEWS))
        shared.clear()  # this process's memory only
        assert shared.get(USER, NEWS) is None
        assert await peek.get("verify:7:-1001") == "1"
    assert shared.stats.listening is False


# -- degradation ---------------------------------------------------------------------

async def back_on_redis(shared: RedisMembershipCache) -> None:
    """Wait until ``shared`` uses Redis again and listens, looking up an answer meanwhile."""
    await wait_until(lambda: not shared.degraded and shared.stats.listening,
                     "the cache going back to Redis", poke=lambda: shared.aget(USER, TALK))


async def test_redis_stopped_then_restarted(redis_server: RedisServer) -> None:
    async with cache(redis_server) as first, cache(redis_server) as second:
        await first.aset(USER, NEWS, True)
        redis_server.stop()  # waits until the process has exited

        # Still answering, from memory, and never raising.
        assert await first.aget(OTHER, NEWS) is None
        await wait_until(lambda: first.degraded, "the first cache going degraded")
        assert first.status == "degraded"
        await first.aset(OTHER, NEWS, False)
        assert await first.aget(OTHER, NEWS) is False  # degraded memory: negatives too
        await first.aset(OTHER, TALK, True)
        assert await first.aget(OTHER, TALK) is True
        first.invalidate(OTHER, TALK)
        await first.ainvalidate(OTHER, [TALK])
        assert await first.aget(OTHER, TALK) is None
        stats = first.stats
        assert stats.degraded
        assert stats.redis_errors >= 1
        assert stats.last_error is not None
        assert "Error" in stats.last_error
        await wait_until(lambda: second.degraded, "the idle second cache noticing (its listener)")
        assert not second.stats.listening

        redis_server.start()  # the same port, empty
        for each in (first, second):
            await back_on_redis(each)
        assert first.status == "redis"
        assert first.get(OTHER, NEWS) is None  # what was kept meanwhile is dropped

        # Shared again, invalidations included.
        await first.aset(USER, NEWS, True)
        assert await second.aget(USER, NEWS) is True
        await first.ainvalidate(USER, [NEWS])
        await wait_until(lambda: second.get(USER, NEWS) is None,
                         "an invalidation reaching the other process after the restart")


async def test_a_dead_redis_is_not_asked_again_before_the_backoff(
        redis_server: RedisServer) -> None:
    async with cache(redis_server, retry_min=60, retry_max=60) as shared:
        redis_server.stop()
        assert await shared.aget(USER, NEWS) is None
        await wait_until(lambda: shared.degraded, "the cache going degraded")
        errors = shared.stats.redis_errors
        for _ in range(100):
            await shared.aset(USER, NEWS, False)
            assert await shared.aget(USER, NEWS) is False
        assert shared.stats.redis_errors == errors  # no call reached for Redis meanwhile


async def test_redis_down_from_the_start() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RedisMembershipCache.from_url(f"redis://127.0.0.1:{port}/0", **FAST) as shared:
        assert shared.degraded  # start() returned, it did not raise
        await shared.aset(USER, NEWS, True)
        assert await shared.aget(USER, NEWS) is True


async def test_a_redis_that_does_not_answer_times_out_into_degraded_mode() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        async with RedisMembershipCache.from_url(url, timeout=0.2) as shared:
            assert shared.degraded
            assert await shared.aget(USER, NEWS) is None
            assert shared.stats.last_error is not None
            assert "Timeout" in shared.stats.last_error
        assert time.monotonic() - started < 5, "a silent Redis held the caller"


def test_bad_configuration_is_a_configuration_error() -> None:
    with pytest.raises(fv.ConfigurationError, match="invalid Redis URL") as caught:
        RedisMembershipCache.from_url("http://user:secret@host/0")
    assert "secret" not in str(caught.value)
    client = aioredis.Redis()
    with pytest.raises(fv.ConfigurationError, match="local_ttl"):
        RedisMembershipCache(client, local_ttl=-1)
    with pytest.raises(fv.ConfigurationError, match="retry_max"):
        RedisMembershipCache(client, retry_min=5, retry_max=1)


# -- through MembershipChecker -----------------------------------------------------------

class Messenger:
    """Who is in which channel (the Telegram side), and the lookups made."""

    def __init__(self) -> None:
        self.members: set[tuple[int, int]] = set()
        self.calls: list[tuple[int, int]] = []

    async def lookup(self, user_id: int, channel_id: int) -> bool:
        self.calls.append((user_id, channel_id))
        return (user_id, channel_id) in self.members


async def test_two_checkers_share_answers_through_redis(redis_server: RedisServer,
                                                        store: fv.Store) -> None:
    group = (await store.groups.protect(GROUP, fv.OwnerInfo(id=42), [
        fv.ChannelInfo(id=NEWS, title="News", username="news")])).group
    messenger = Messenger()
    async with cache(redis_server) as first_cache, cache(redis_server) as second_cache, \
            store.verifications.logger() as log:
        first = fv.MembershipChecker(messenger.lookup, first_cache, log)
        second = fv.MembershipChecker(messenger.lookup, second_cache, log)
        assert not (await first.check(USER, group)).verified
        blocked = await second.check(USER, group)
        assert not blocked.verified
        assert blocked.channels[0].cached
        assert messenger.calls == [(USER, NEWS)]

        messenger.members.add((USER, NEWS))
        assert (await first.check(USER, group, fresh=True)).verified  # "I have joined"
        allowed = await second.check(USER, group)  # at once, without asking Telegram
        assert allowed.verified
        assert allowed.channels[0].cached
        assert messenger.calls == [(USER, NEWS), (USER, NEWS)]

        messenger.members.clear()  # the user leaves; the first process gets the update
        await first.invalidate(USER, NEWS)
        await wait_until(lambda: second_cache.get(USER, NEWS) is None,
                         "the leave reaching the second process's memory")
        assert not (await second.check(USER, group)).verified
    assert len(messenger.calls) == 3


# -- the docs example ---------------------------------------------------------------------

async def test_docs_example_prints_the_shared_answers(redis_server: RedisServer,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("docs_example_redis_cache", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module.main(redis_server.url)
    assert capsys.readouterr().out.splitlines() == [
        "second process: False",
        "second process: True",
        "cache: redis, hit rate 100%, Redis errors 0",
    ]
