"""Fixtures for the reference bot's tests: a fake Telegram Bot API server and a PTB Bot on it.

``botapi``  a started :class:`botapi.FakeBotApi` (fresh world per test); point PTB at
            ``botapi.base_url`` with token ``botapi.token``.
``bot``     an initialized ``telegram.Bot`` talking to it (async; ``@pytest.mark.anyio``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from botapi import FakeBotApi
from telegram import Bot


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
