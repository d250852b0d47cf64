"""Benchmark 11: membership check latency: an in-memory hit, a Redis hit, a miss.

``MembershipChecker.check()`` of one user in a group with one enforced channel,
each verification logged. A miss asks the local Bot API server
(``getChatMember`` over HTTP, the real wire format); a hit is answered by the
in-process cache, or by Redis (``redis-server`` started here, the in-process
layer in front of it made too short-lived to answer). The miss is the baseline:
the ratio says how many times faster a hit is.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx

import firestore_verify as fv
from bench.harness import Context, Row, ms, percentile, progress, times
from firestore_verify.testing.redis_server import RedisNotFoundError, RedisServer

GROUP, CHANNEL, USER = -1001000000001, -1002000000001, 4242
_MEMBER = {"creator", "administrator", "member"}


def _group() -> fv.ProtectedGroup:
    return fv.ProtectedGroup(id=GROUP, owner_id=1, title="Bench",
                             enforced_channels=[fv.ChannelRef(channel_id=CHANNEL,
                                                               title="News")])


async def _samples(checker: fv.MembershipChecker, runs: int, *, fresh: bool,
                   clock: Callable[[], float]) -> list[float]:
    group = _group()
    await checker.check(USER, group, fresh=True)  # primes the cache (and the connection)
    seconds = []
    for _ in range(runs):
        started = clock()
        result = await checker.check(USER, group, fresh=fresh)
        seconds.append(clock() - started)
        assert result.verified, result
        assert all(c.cached is not fresh for c in result.channels), result
    return seconds


async def run(ctx: Context) -> list[Row]:
    """The three latencies (p50 and p95) and each hit against the miss."""
    from fsv_bot.fake_telegram import FakeBotApi  # the reference bot's test server

    runs = ctx.sizes.membership_runs
    progress(f"11. membership check latency ({runs} checks each)")
    rows: list[Row] = []
    with FakeBotApi() as api:
        api.add_channel(CHANNEL, "News", username="news")
        api.add_user(USER, "Bench")
        api.set_member(CHANNEL, USER, "member")
        async with httpx.AsyncClient(base_url=f"{api.base_url}{api.token}/") as http, \
                ctx.project("membership") as store, store.verifications.logger() as log:

            async def lookup(user_id: int, channel_id: int) -> bool:
                answer = await http.post("getChatMember",
                                         json={"chat_id": channel_id, "user_id": user_id})
                answer.raise_for_status()
                return str(answer.json()["result"]["status"]) in _MEMBER

            clock = time.perf_counter
            memory = fv.MembershipChecker(lookup, fv.MembershipCache(), log)
            miss = await _samples(memory, runs, fresh=True, clock=clock)
            hit = await _samples(memory, runs, fresh=False, clock=clock)
            figures = {"miss": miss, "in-memory hit": hit}
            try:
                with RedisServer() as server:
                    cache = fv.RedisMembershipCache.from_url(server.url, local_ttl=1e-6,
                                                             rng=random.Random(1))
                    try:
                        shared = fv.MembershipChecker(lookup, cache, log)
                        figures["Redis hit"] = await _samples(shared, runs, fresh=False,
                                                              clock=clock)
                    finally:
                        await cache.aclose()
            except RedisNotFoundError as exc:
                progress(f"11. Redis hit left out: {exc}")
    base50, base95 = percentile(miss, 50), percentile(miss, 95)
    for name, seconds in figures.items():
        for pct, base in ((50, base50), (95, base95)):
            value = percentile(seconds, pct)
            rows.append(Row(
                benchmark=f"11. membership check, {name}: p{pct}",
                figure=ms(value),
                baseline=f"miss {ms(base)}" if name != "miss" else "-",
                ratio=times(base / value) if name != "miss" and value else "-",
                values={"seconds": value, "baseline_seconds": base, "runs": len(seconds)},
            ))
    return rows
