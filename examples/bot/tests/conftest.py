"""Fixtures for the reference bot's tests: a fake Telegram Bot API server and a PTB Bot on it.

``botapi``  a started :class:`botapi.FakeBotApi` (fresh world per test); point PTB at
            ``botapi.base_url`` with token ``botapi.token``.
``bot``     an initialized ``telegram.Bot`` talking to it (async; ``@pytest.mark.anyio``).
``world``   the fake server with a group, two channels and four users (ids below).
``runtime`` the real bot (``fsv_bot.app.running_bot``) polling the fake server, on the
            Firestore emulator ``store`` of the library's pytest plugin.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import pytest
from fsv_bot.app import BotRuntime, running_bot
from fsv_bot.config import Settings
from fsv_bot.fake_telegram import FakeBotApi
from telegram import Bot

import firestore_verify as fv


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """python-telegram-bot runs on asyncio only."""
    return "asyncio"


@pytest.fixture
def botapi() -> Iterator[FakeBotApi]:
    """A fake Bot API server on 127.0.0.1 and a free port, stopped after the test."""
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def bot(botapi: FakeBotApi) -> AsyncIterator[Bot]:
    """A real PTB ``Bot`` pointed at the fake server (``getMe`` already done)."""
    async with Bot(botapi.token, base_url=botapi.base_url) as bot:
        yield bot


# ---------------------------------------------------------------------------- the real bot

GROUP, CHANNEL, CHANNEL2 = -1001111111111, -1002222222222, -1003333333333
OWNER, ADMIN, USER, MEMBER = 42, 43, 7, 8


@pytest.fixture
def world(botapi: FakeBotApi) -> FakeBotApi:
    """A group owned by OWNER (ADMIN is an admin too) and two channels the bot administers.

    MEMBER has joined CHANNEL; USER has joined nothing. Both are in the group.
    """
    botapi.add_user(OWNER, "Alice", username="alice")
    botapi.add_user(ADMIN, "Carol", username="carol")
    botapi.add_user(USER, "Bob", username="bob")
    botapi.add_user(MEMBER, "Dave", username="dave")
    botapi.add_group(GROUP, "Crypto Chat", owner_id=OWNER)
    botapi.set_member(GROUP, ADMIN, "administrator")
    botapi.set_member(GROUP, USER, "member")
    botapi.set_member(GROUP, MEMBER, "member")
    botapi.add_channel(CHANNEL, "News", username="news", owner_id=OWNER)
    botapi.add_channel(CHANNEL2, "Deals", username="deals", owner_id=OWNER)
    botapi.set_member(CHANNEL, MEMBER, "member")
    return botapi


@pytest.fixture
def settings(botapi: FakeBotApi) -> Settings:
    """Settings for a bot on the fake server: short long-polls, metrics on a free port."""
    return Settings.from_env({
        "TELEGRAM_BOT_TOKEN": botapi.token,
        "TELEGRAM_API_BASE_URL": botapi.base_url,
        "FSV_POLL_TIMEOUT": "1",
        "FSV_METRICS_PORT": "0",
    })


# --8<-- [start:runtime]
@pytest.fixture
async def runtime(
    world: FakeBotApi, settings: Settings, store: fv.Store
) -> AsyncIterator[BotRuntime]:
    """The real bot, polling the fake Bot API, on the emulator ``store``."""
    async with running_bot(settings, store=store) as running:
        yield running
# --8<-- [end:runtime]


async def protect(runtime: BotRuntime, *channels: int, params: dict[str, object] | None = None,
                  ) -> fv.ProtectedGroup:
    """Protect GROUP with ``channels`` straight through the library; wait until the bot sees it."""
    infos = {CHANNEL: fv.ChannelInfo(id=CHANNEL, title="News", username="news"),
             CHANNEL2: fv.ChannelInfo(id=CHANNEL2, title="Deals", username="deals")}
    result = await runtime.store.groups.protect(
        group=fv.GroupInfo(id=GROUP, title="Crypto Chat"),
        owner=fv.OwnerInfo(id=OWNER, username="alice"),
        channels=[infos[c] for c in channels or (CHANNEL,)],
        params=params,
    )
    await wait_for(lambda: (g := runtime.registry.get(GROUP)) is not None
                   and g.channel_ids == result.group.channel_ids)
    return result.group


async def wait_for(predicate: Callable[[], object], within: float = 10.0) -> None:
    """Poll ``predicate`` until it is true (TimeoutError after ``within`` seconds)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within} s")
        await anyio.sleep(0.02)


async def events(runtime: BotRuntime, **where: object) -> list[fv.Verification]:
    """Every verification event stored so far (after flushing the bot's logger), oldest first."""
    await runtime.events.flush()
    page = await runtime.store.verifications.list(limit=1000, **where)
    return sorted(page.items, key=lambda e: e.occurred_at)
