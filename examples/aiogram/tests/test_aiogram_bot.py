"""The aiogram example bot, against the local Bot API server and the Firestore emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from aiogram import Bot, Dispatcher
from fsv_aiogram.bot import running_guard
from fsv_bot.fake_telegram import FakeBotApi

import firestore_verify as fv

pytestmark = pytest.mark.anyio

GROUP, CHANNEL, OWNER, USER = -1001111111111, -1002222222222, 42, 7


@pytest.fixture
async def polling(botapi: FakeBotApi, bot: Bot, store: fv.Store) -> AsyncIterator[Dispatcher]:
    """A protected group with one channel, and the bot polling for updates."""
    botapi.add_user(OWNER, "Alice", username="alice")
    botapi.add_user(USER, "Bob", username="bob")
    botapi.add_group(GROUP, "Crypto Chat", owner_id=OWNER)
    botapi.set_member(GROUP, USER, "member")
    botapi.add_channel(CHANNEL, "News", username="news", owner_id=OWNER)
    await store.groups.protect(
        group=fv.GroupInfo(id=GROUP, title="Crypto Chat"),
        owner=fv.OwnerInfo(id=OWNER, username="alice"),
        channels=[fv.ChannelInfo(id=CHANNEL, title="News", username="news")])
    async with running_guard(bot, store) as dispatcher, anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: dispatcher.start_polling(bot, handle_signals=False,
                                                          polling_timeout=1))
        await botapi.wait_until(lambda: botapi.polls_waiting > 0, within=15)
        try:
            yield dispatcher
        finally:
            await dispatcher.stop_polling()


async def test_a_non_member_is_muted_then_let_in_after_joining(
        botapi: FakeBotApi, polling: Dispatcher, store: fv.Store) -> None:
    said = botapi.send_message(GROUP, USER, "hello")
    # Deleted, muted, then warned (in that order): the warning is the last to arrive.
    await botapi.wait_until(lambda: bool(botapi.sent_messages(GROUP)), within=15)
    assert botapi.is_deleted(GROUP, said["message_id"])
    assert botapi.status(GROUP, USER) == "restricted"
    warning = botapi.sent_messages(GROUP)[-1]
    buttons = [b for row in warning["reply_markup"]["inline_keyboard"] for b in row]
    assert [b.get("url") for b in buttons] == ["https://t.me/news", None]

    query = botapi.press_button(warning, user_id=USER, data=f"verify:{USER}")
    await botapi.wait_until(lambda: botapi.callback_answer(query) is not None, within=15)
    assert not botapi.can_send_messages(GROUP, USER), "unmuted before joining"

    botapi.join(CHANNEL, USER)
    query = botapi.press_button(warning, user_id=USER, data=f"verify:{USER}")
    # Unmuted, then answered (in that order): the answer is the last to arrive.
    await botapi.wait_until(lambda: botapi.callback_answer(query) is not None, within=15)
    assert botapi.can_send_messages(GROUP, USER)
    answer = botapi.callback_answer(query)
    assert answer is not None
    assert answer.get("text") == "Thanks, you can write now."
    # Speaking now: checked from the cache (one more event, a success), and kept.
    kept = botapi.send_message(GROUP, USER, "thanks")
    with anyio.fail_after(20):
        while (await store.stats.get()).total_verifications < 3:
            await anyio.sleep(0.1)
    (latest,) = (await store.verifications.latest(limit=1)).items
    assert (latest.status, latest.cached) == (fv.Status.SUCCESS, True)
    assert not botapi.is_deleted(GROUP, kept["message_id"])


async def test_every_check_is_logged_and_counted(botapi: FakeBotApi, bot: Bot,
                                                 polling: Dispatcher, store: fv.Store) -> None:
    botapi.send_message(GROUP, USER, "hello")
    await botapi.wait_until(lambda: bool(botapi.sent_messages(GROUP)), within=15)
    botapi.join(CHANNEL, USER)
    warning = botapi.sent_messages(GROUP)[-1]
    botapi.press_button(warning, user_id=USER, data=f"verify:{USER}")
    await botapi.wait_until(lambda: botapi.can_send_messages(GROUP, USER), within=15)
    with anyio.fail_after(20):  # the logger commits within a second or two
        while (await store.stats.get()).total_verifications < 2:
            await anyio.sleep(0.1)
    stats = await store.stats.get()
    assert (stats.failed_count, stats.success_count) == (1, 1)
    events = [e async for e in store.verifications.iterate()]
    assert sorted(e.status.value for e in events) == ["failed", "success"]
    assert {e.user_id for e in events} == {USER}
