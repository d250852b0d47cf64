"""Guarding end to end: the real bot polls the fake Bot API and logs to the Firestore emulator."""

from __future__ import annotations

import pytest
from conftest import ADMIN, CHANNEL, CHANNEL2, GROUP, MEMBER, OWNER, USER, events, protect, wait_for
from fsv_bot.app import BotRuntime
from fsv_bot.fake_telegram import FakeBotApi
from fsv_bot.notices import verify_data
from fsv_bot.simulate import settle

import firestore_verify as fv

pytestmark = pytest.mark.anyio


def buttons(message: dict[str, object]) -> list[tuple[str, str | None, str | None]]:
    markup = message.get("reply_markup") or {}
    assert isinstance(markup, dict)
    return [(b["text"], b.get("url"), b.get("callback_data"))
            for row in markup["inline_keyboard"] for b in row]


# --8<-- [start:test]
async def test_non_member_message_is_deleted_user_muted_warned_and_logged(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    await protect(runtime, CHANNEL, CHANNEL2)
    mark = world.mark()
    message = world.send_message(GROUP, USER, "buy my coin")

    await world.wait_for_call("sendMessage", since=mark)
    assert world.is_deleted(GROUP, message["message_id"])
    assert world.status(GROUP, USER) == "restricted"
    assert not world.can_send_messages(GROUP, USER)
    warning = world.last_sent(GROUP)
    assert "Bob" in warning["text"]
    assert "@news" in warning["text"]
    assert "@deals" in warning["text"]
    assert buttons(warning) == [
        ("Join News", "https://t.me/news", None),
        ("Join Deals", "https://t.me/deals", None),
        ("I have joined", None, verify_data(USER)),
    ]

    logged = await events(runtime, group_id=GROUP)
    assert sorted((e.user_id, e.channel_id, e.status, e.cached) for e in logged) == [
        (USER, CHANNEL2, fv.Status.FAILED, False),
        (USER, CHANNEL, fv.Status.FAILED, False),
    ]
    assert all(e.latency_ms is not None and e.latency_ms >= 0 for e in logged)
    stats = await runtime.store.stats.get()
    assert (stats.total_verifications, stats.failed_count) == (2, 2)
# --8<-- [end:test]


async def test_member_passes_and_the_cache_answers_the_second_time(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    await protect(runtime, CHANNEL)
    world.send_message(GROUP, MEMBER, "hello")
    await wait_for(lambda: runtime.cache.get(MEMBER, CHANNEL) is True)  # a hit itself
    world.send_message(GROUP, MEMBER, "hello again")
    await wait_for(lambda: runtime.cache.stats.hits == 2)
    logged = await events(runtime, user_id=MEMBER)
    assert [(e.status, e.cached) for e in logged] == [
        (fv.Status.SUCCESS, False), (fv.Status.SUCCESS, True)]
    assert len(world.calls_to("getChatMember")) == 1  # the second answer came from the cache
    assert not world.calls_to("deleteMessage")
    assert not world.calls_to("restrictChatMember")


async def test_join_then_i_have_joined_unmutes_and_logs_success(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    await protect(runtime, CHANNEL)
    world.send_message(GROUP, USER, "hi")
    await world.wait_for_call("sendMessage")
    warning = world.last_sent(GROUP)

    # Pressed too early: still missing, nothing changes.
    query = world.press_button(warning, user_id=USER)
    await wait_for(lambda: world.callback_answer(query) is not None)
    answer = world.callback_answer(query)
    assert answer is not None
    assert answer["text"].startswith("Still missing: News")
    assert answer["show_alert"] is True
    assert world.status(GROUP, USER) == "restricted"

    # Someone else cannot press it for them.
    other = world.press_button(warning, user_id=MEMBER)
    await wait_for(lambda: world.callback_answer(other) is not None)
    assert "someone else" in world.callback_answer(other)["text"]  # type: ignore[index]

    world.join(CHANNEL, USER)
    # The negative answer is cached for a minute: "I have joined" must ask Telegram anyway.
    query = world.press_button(warning, user_id=USER)
    await wait_for(lambda: world.callback_answer(query) is not None)
    assert world.callback_answer(query)["text"] == "Verified, you can write now."  # type: ignore[index]
    await wait_for(lambda: world.is_deleted(GROUP, warning["message_id"]))
    assert world.status(GROUP, USER) == "member"
    assert world.can_send_messages(GROUP, USER)

    logged = await events(runtime, user_id=USER)
    assert [(e.status, e.cached) for e in logged] == [
        (fv.Status.FAILED, False), (fv.Status.FAILED, False), (fv.Status.SUCCESS, False)]

    # Verified users write freely (the fresh answer is cached now).
    world.send_message(GROUP, USER, "thanks")
    await wait_for(lambda: runtime.cache.stats.hits >= 1)
    assert world.status(GROUP, USER) == "member"


async def test_leaving_a_channel_mutes_in_linked_groups_and_warns(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    await protect(runtime, CHANNEL)
    world.send_message(GROUP, MEMBER, "hi")  # checked once: a member (cached)
    await wait_for(lambda: runtime.cache.get(MEMBER, CHANNEL) is True)

    world.leave(CHANNEL, MEMBER)
    await world.wait_for_call("sendMessage")
    assert world.status(GROUP, MEMBER) == "restricted"
    warning = world.last_sent(GROUP)
    assert "Dave" in warning["text"]
    assert buttons(warning)[0] == ("Join News", "https://t.me/news", None)
    logged = await events(runtime, user_id=MEMBER)
    assert [(e.status, e.cached) for e in logged][-1] == (fv.Status.FAILED, False)


async def test_new_members_are_checked_on_join(world: FakeBotApi, runtime: BotRuntime) -> None:
    await protect(runtime, CHANNEL)
    newcomer = 99
    world.add_user(newcomer, "Eve")
    world.join(GROUP, newcomer)
    await world.wait_for_call("sendMessage")
    assert world.status(GROUP, newcomer) == "restricted"
    assert "Eve" in world.last_sent(GROUP)["text"]
    [event] = await events(runtime, user_id=newcomer)
    assert event.status is fv.Status.FAILED


async def test_an_api_error_is_logged_as_error_and_fails_safe(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    await protect(runtime, CHANNEL)
    world.fail_next("getChatMember", 400, "Bad Request: member list is inaccessible")
    message = world.send_message(GROUP, MEMBER, "hi")  # a member, but Telegram cannot tell
    await world.wait_for_call("sendMessage")
    assert world.is_deleted(GROUP, message["message_id"])
    assert world.status(GROUP, MEMBER) == "restricted"
    [event] = await events(runtime, user_id=MEMBER)
    assert (event.status, event.error_type, event.cached) == (fv.Status.ERROR, "BadRequest", False)
    assert runtime.cache.get(MEMBER, CHANNEL) is None  # errors are never cached
    metrics = runtime.metrics.render().decode()
    assert 'fsv_telegram_api_errors_total{error_type="BadRequest",method="getChatMember"} 1.0' \
        in metrics
    assert (await runtime.store.stats.get()).error_count == 1


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_is_honoured(world: FakeBotApi, runtime: BotRuntime) -> None:
    await protect(runtime, CHANNEL)
    world.fail_next("restrictChatMember", 429, retry_after=1)
    world.send_message(GROUP, USER, "hi")
    await world.wait_for_call("restrictChatMember", lambda c: c.ok, within=10)
    first, second = world.calls_to("restrictChatMember")
    # Measured on the server, so a busy test runner cannot shorten or stretch it.
    assert 1.0 <= second.at - first.at < 5  # the second Telegram asked for, not a blind retry
    assert (first.ok, second.ok) == (False, True)
    assert first.response["parameters"] == {"retry_after": 1}
    assert world.status(GROUP, USER) == "restricted"
    await world.wait_for_call("sendMessage")  # the warning follows the mute
    assert 'fsv_telegram_api_errors_total{error_type="RetryAfter",method="restrictChatMember"}' \
        in runtime.metrics.render().decode()


async def test_admins_are_never_muted(world: FakeBotApi, runtime: BotRuntime) -> None:
    await protect(runtime, CHANNEL)
    for user in (OWNER, ADMIN):
        world.send_message(GROUP, user, "admin talk")
    world.send_message(GROUP, USER, "not an admin")
    await world.wait_for_call("sendMessage")
    await settle(world, runtime)
    assert world.status(GROUP, OWNER) == "creator"
    assert world.status(GROUP, ADMIN) == "administrator"
    restricted = {c.params["user_id"] for c in world.calls_to("restrictChatMember")}
    assert restricted == {USER}
    checked = {c.params["user_id"] for c in world.calls_to("getChatMember")
               if c.params["chat_id"] == CHANNEL}
    assert checked == {USER}  # admins are not even checked
    deleted = [c.params["message_id"] for c in world.calls_to("deleteMessage")]
    assert len(deleted) == 1


async def test_a_channel_linked_from_outside_takes_effect_live(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    await protect(runtime, CHANNEL)
    world.send_message(GROUP, MEMBER, "fine so far")
    await wait_for(lambda: runtime.cache.get(MEMBER, CHANNEL) is True)
    assert not world.calls_to("restrictChatMember")

    # The API or the dashboard links a second channel and changes the warning: no restart.
    await runtime.store.groups.link_channel(
        GROUP, fv.ChannelInfo(id=CHANNEL2, title="Deals", username="deals"))
    await runtime.store.groups.update(
        GROUP, params={"warning_template": "{user}: join {channels}!"})
    await wait_for(lambda: (g := runtime.registry.get(GROUP)) is not None
                   and g.channel_ids == [CHANNEL, CHANNEL2] and bool(g.params))

    world.send_message(GROUP, MEMBER, "still fine?")
    await world.wait_for_call("sendMessage")
    assert world.status(GROUP, MEMBER) == "restricted"
    warning = world.last_sent(GROUP)
    assert warning["text"] == '<a href="tg://user?id=8">Dave</a>: join <b>@deals</b>!'
    assert [b[0] for b in buttons(warning)] == ["Join Deals", "I have joined"]

    # Unprotected from outside: the group is left alone at once.
    await runtime.store.groups.unprotect(GROUP)
    await wait_for(lambda: runtime.registry.get(GROUP) is None)
    world.send_message(GROUP, USER, "free speech")
    await settle(world, runtime)
    assert world.status(GROUP, USER) == "member"


async def test_mute_off_only_deletes_and_warns(world: FakeBotApi, runtime: BotRuntime) -> None:
    await protect(runtime, CHANNEL, params={"mute": False})
    message = world.send_message(GROUP, USER, "hi")
    await world.wait_for_call("sendMessage")
    assert world.is_deleted(GROUP, message["message_id"])
    assert world.status(GROUP, USER) == "member"
    assert not world.calls_to("restrictChatMember")
    # A second message: deleted again, but one warning is enough.
    second = world.send_message(GROUP, USER, "hi again")
    await settle(world, runtime)
    assert world.is_deleted(GROUP, second["message_id"])
    assert len(world.calls_to("sendMessage")) == 1
