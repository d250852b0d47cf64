"""Commands end to end: typed in the fake Telegram, stored in the Firestore emulator."""

from __future__ import annotations

import pytest
from conftest import ADMIN, CHANNEL, CHANNEL2, GROUP, MEMBER, OWNER, USER, protect, wait_for
from fsv_bot.app import BotRuntime
from fsv_bot.fake_telegram import Call, FakeBotApi

import firestore_verify as fv

pytestmark = pytest.mark.anyio


async def command(world: FakeBotApi, user: int, text: str, chat: int = GROUP) -> str:
    """Send ``text`` as ``user`` in ``chat``; return the bot's reply."""
    mark = world.mark()
    sent = world.send_message(chat, user, text)

    def is_reply(call: Call) -> bool:
        if call.params["chat_id"] != chat:
            return False
        quoted = call.params.get("reply_parameters") or {}
        return chat == user or quoted.get("message_id") == sent["message_id"]

    call = await world.wait_for_call("sendMessage", is_reply, since=mark)
    return str(call.params["text"])


async def test_protect_and_unprotect(world: FakeBotApi, runtime: BotRuntime) -> None:
    reply = await command(world, OWNER, "/protect @news -1003333333333")
    assert reply == "Protected. To write here, members must join: News (@news), Deals (@deals)."
    group = await runtime.store.groups.get(GROUP)
    assert (group.enabled, group.owner_id, group.title) == (True, OWNER, "Crypto Chat")
    assert group.channel_ids == [CHANNEL, CHANNEL2]
    assert group.member_count == 5  # owner, admin, bot and two users
    channel = await runtime.store.channels.get(CHANNEL)
    assert channel.linked_groups == [GROUP]
    owner = await runtime.store.owners.get(OWNER)
    assert owner.username == "alice"
    assert runtime.registry.get(GROUP) is not None

    # Protection applies at once: a non-member is blocked.
    world.send_message(GROUP, USER, "hi")
    await wait_for(lambda: world.status(GROUP, USER) == "restricted")

    assert await command(world, ADMIN, "/unprotect") == (
        "Protection is off. /protect turns it back on.")
    group = await runtime.store.groups.get(GROUP)
    assert group.enabled is False
    assert group.channel_ids == [CHANNEL, CHANNEL2]  # kept for /protect
    assert runtime.registry.get(GROUP) is None
    assert (await runtime.store.stats.get()).total_groups == 0


async def test_protect_refusals(world: FakeBotApi, runtime: BotRuntime) -> None:
    usage = "Usage: /protect @channel|-100id [more channels]"
    assert await command(world, OWNER, "/protect") == usage
    assert await command(world, OWNER, "/protect news") == usage
    assert await command(world, OWNER, "/protect @news @news") == "Each channel once, please."
    assert await command(world, MEMBER, "/protect @news") == "Only group admins can do that."
    assert await command(world, OWNER, "/protect @news", chat=OWNER) == (
        "Use this command in the group you want to protect.")
    world.add_channel(-1004444444444, "Private", username="private", bot_status="member")
    assert await command(world, OWNER, "/protect @private") == (
        "Make me an admin of Private first: only admins can see who is a member.")
    assert (await command(world, OWNER, "/protect @nowhere")).startswith("I cannot find @nowhere")
    assert await command(world, OWNER, "/protect -1001111111111") == (
        "-1001111111111 is not a channel.")
    world.change_member(GROUP, world.bot_id, "administrator",
                        rights={"can_restrict_members": False})
    assert (await command(world, OWNER, "/protect @news")).startswith("Make me an admin of this")
    assert await runtime.store.groups.find(GROUP) is None  # nothing was stored


async def test_status_channels_add_and_remove(world: FakeBotApi, runtime: BotRuntime) -> None:
    assert await command(world, MEMBER, "/status") == (
        "Not protected. An admin can run /protect @channel.")
    await protect(runtime, CHANNEL)
    world.send_message(GROUP, MEMBER, "hello")  # one check: success
    world.send_message(GROUP, USER, "hello")  # one check: failed
    await wait_for(lambda: world.status(GROUP, USER) == "restricted")
    await wait_for(lambda: runtime.metrics.verifications.labels(status="success")._value.get() == 1)
    await runtime.events.flush()
    assert await command(world, MEMBER, "/status") == "\n".join([
        "<b>Protection</b>: on",
        "<b>Channels</b>: News (@news)",
        "<b>Today</b>: 2 checks, 1 passed (50%)",
        "<b>Last 7 days</b>: 2 checks, 50% passed",
    ])

    assert await command(world, ADMIN, "/addchannel @deals") == (
        "Now enforcing: News (@news), Deals (@deals).")
    assert (await runtime.store.groups.get(GROUP)).channel_ids == [CHANNEL, CHANNEL2]
    # Members of every channel may use commands; others are blocked like any message.
    world.set_member(CHANNEL2, MEMBER, "member")
    assert await command(world, MEMBER, "/channels") == "\n".join([
        "Join these channels to write here:",
        "- News (@news): https://t.me/news",
        "- Deals (@deals): https://t.me/deals",
    ])

    assert await command(world, MEMBER, "/removechannel @news") == "Only group admins can do that."
    assert await command(world, ADMIN, "/removechannel @nope") == (
        "@nope is not enforced here. /channels lists those that are.")
    assert await command(world, ADMIN, "/removechannel") == (
        "Usage: /removechannel @channel|-100id")
    assert await command(world, ADMIN, "/removechannel @news") == "Removed News (@news)."
    assert await command(world, ADMIN, f"/removechannel {CHANNEL2}") == (
        "Removed Deals (@deals). No channels left: nobody is checked until /addchannel.")
    group = await runtime.store.groups.get(GROUP)
    assert group.channel_ids == []
    assert (await runtime.store.channels.get(CHANNEL)).linked_groups == []
    assert await command(world, MEMBER, "/channels") == (
        "No channels are enforced here. Admins: /addchannel @channel.")


async def test_settings(world: FakeBotApi, runtime: BotRuntime) -> None:
    assert await command(world, OWNER, "/settings") == (
        "This group is not protected yet: use /protect @channel.")
    await protect(runtime, CHANNEL)
    shown = await command(world, MEMBER, "/settings")
    assert shown.splitlines()[1:] == [
        "<b>Mute</b>: on",
        "Usage: /settings [warning &lt;text&gt; | mute on|off | reset]",
    ]
    assert await command(world, OWNER, "/settings volume 11") == (
        "Usage: /settings [warning &lt;text&gt; | mute on|off | reset]")
    assert await command(world, MEMBER, "/settings mute off") == "Only group admins can do that."

    assert await command(world, OWNER, "/settings warning Hey {user}, join {channels}!") == (
        "Saved. Warning: Hey {user}, join {channels}!. Mute: on.")
    assert await command(world, ADMIN, "/settings mute off") == (
        "Saved. Warning: Hey {user}, join {channels}!. Mute: off.")
    group = await runtime.store.groups.get(GROUP)
    assert group.params == {"warning_template": "Hey {user}, join {channels}!", "mute": False}

    world.send_message(GROUP, USER, "hi")
    await wait_for(lambda: any(m["text"].startswith("Hey ") for m in world.sent_messages(GROUP)))
    assert world.status(GROUP, USER) == "member"  # not muted: mute is off

    assert await command(world, OWNER, "/settings reset") == "Saved. Warning: default. Mute: on."
    assert (await runtime.store.groups.get(GROUP)).params == {}


async def test_start_and_help(world: FakeBotApi, runtime: BotRuntime) -> None:
    start = await command(world, USER, "/start", chat=USER)
    assert start.startswith("<b>Force-subscribe bot</b>")
    assert "/protect @channel" in start
    assert await command(world, OWNER, "/help@test_verify_bot") == start


async def test_unprotect_unknown_group(world: FakeBotApi, runtime: BotRuntime) -> None:
    assert await command(world, OWNER, "/unprotect") == "This group is not protected."
    assert await runtime.store.groups.find(GROUP) is None
    assert await command(world, OWNER, "/addchannel @news") == (
        "This group is not protected yet: use /protect @channel.")
    with pytest.raises(fv.NotFoundError):
        await runtime.store.groups.get(GROUP)
