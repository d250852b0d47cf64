"""Fixtures: the local Bot API server (the reference bot's), and an aiogram Bot on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from fsv_bot.fake_telegram import FakeBotApi


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """aiogram runs on asyncio."""
    return "asyncio"


@pytest.fixture
def botapi() -> Iterator[FakeBotApi]:
    """A Bot API server speaking Telegram's wire format, on a free local port."""
    with FakeBotApi() as api:
        yield api


# --8<-- [start:bot]
@pytest.fixture
async def bot(botapi: FakeBotApi) -> AsyncIterator[Bot]:
    """An aiogram ``Bot`` pointed at the local server."""
    server = TelegramAPIServer.from_base(botapi.base_url.removesuffix("/bot"))
    bot = Bot(botapi.token, session=AiohttpSession(api=server))
    try:
        yield bot
    finally:
        await bot.session.close()
# --8<-- [end:bot]
