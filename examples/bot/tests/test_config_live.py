"""The dashboard's runtime config reaches the running bot without a restart."""

from __future__ import annotations

import pytest
from conftest import CHANNEL, GROUP, MEMBER, USER, protect, wait_for
from fsv_bot.app import BotRuntime
from fsv_bot.fake_telegram import FakeBotApi
from fsv_bot.options import DEFAULT_WARNING
from fsv_bot.simulate import settle

import firestore_verify as fv

pytestmark = pytest.mark.anyio

ADMIN = fv.Actor(uid="dashboard-admin")
EVE = 9
TEMPLATE = "{user}: members of {channels} only, in {group}. (from the dashboard)"


def member_lookups(world: FakeBotApi) -> int:
    return sum(1 for call in world.calls_to("getChatMember")
               if call.params.get("chat_id") == CHANNEL and call.params.get("user_id") == MEMBER)


async def test_a_config_change_applies_without_restart(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    world.add_user(EVE, "Eve", username="eve")
    world.set_member(GROUP, EVE, "member")
    await protect(runtime, CHANNEL)
    assert runtime.live_config.live
    assert runtime.health()[1]["config_watch"] == "live"
    assert runtime.live_config.warning_template == DEFAULT_WARNING

    # Before: the default warning, and members' answers are cached.
    mark = world.mark()
    world.send_message(GROUP, USER, "hi")
    await world.wait_for_call("sendMessage", since=mark)
    assert "please join" in world.last_sent(GROUP)["text"]
    for text in ("hello", "hello again"):
        world.send_message(GROUP, MEMBER, text)
        await settle(world, runtime)
    assert member_lookups(world) == 1  # the second answer came from the cache

    # An admin changes the config through the library (as the dashboard does).
    config = fv.BotConfigRepository(runtime.store)
    changed = await config.update({"messages.warning_template": TEMPLATE,
                                   "cache.positive_ttl": 0}, actor=ADMIN)
    assert changed == ["messages.warning_template", "cache.positive_ttl"]
    await wait_for(lambda: runtime.live_config.warning_template == TEMPLATE)
    assert runtime.cache.settings.positive_ttl == 0
    assert runtime.cache.settings.negative_ttl == runtime.settings.cache.negative_ttl

    # After: the new default warning for a group without its own ...
    mark = world.mark()
    world.send_message(GROUP, EVE, "hey")
    await world.wait_for_call("sendMessage", since=mark)
    warning = world.last_sent(GROUP)["text"]
    assert "(from the dashboard)" in warning
    assert "Eve" in warning
    assert "@news" in warning
    # ... and members are asked every time now (positive answers are not cached).
    for text in ("one", "two"):
        world.send_message(GROUP, MEMBER, text)
        await settle(world, runtime)
    assert member_lookups(world) == 3


async def test_a_groups_own_template_still_wins_and_a_reset_restores_the_bot_default(
    world: FakeBotApi, runtime: BotRuntime
) -> None:
    await protect(runtime, CHANNEL, params={"warning_template": "{user}: group text {channels}"})
    config = fv.BotConfigRepository(runtime.store)
    await config.update({"messages.warning_template": TEMPLATE,
                         "rate_limits.moderation_per_second": 100.0}, actor=ADMIN)
    await wait_for(lambda: runtime.live_config.pacer.rate == 100.0)
    mark = world.mark()
    world.send_message(GROUP, USER, "hi")
    await world.wait_for_call("sendMessage", since=mark)
    assert "group text" in world.last_sent(GROUP)["text"]

    await config.update({"messages.warning_template": DEFAULT_WARNING,
                         "rate_limits.moderation_per_second": None}, actor=ADMIN)
    await wait_for(lambda: runtime.live_config.pacer.rate is None)
    assert runtime.live_config.warning_template == DEFAULT_WARNING
