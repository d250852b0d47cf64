"""The fake Bot API server speaks Telegram's wire format well enough for real PTB 22."""

from __future__ import annotations

import datetime as dtm
import time
from typing import Any

import anyio
import httpx
import pytest
from fsv_bot.fake_telegram import FakeBotApi
from telegram import (
    Bot,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Conflict, EndPointNotFound, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

pytestmark = pytest.mark.anyio

GROUP, CHANNEL = -1001111111111, -1002222222222
OWNER, USER = 42, 7

MUTED = ChatPermissions(can_send_messages=False)
ALL_ALLOWED = ChatPermissions.all_permissions()


@pytest.fixture
def world(botapi: FakeBotApi) -> FakeBotApi:
    botapi.add_user(OWNER, "Alice", username="alice")
    botapi.add_user(USER, "Bob", username="bob")
    botapi.add_group(GROUP, "Crypto Chat", owner_id=OWNER)
    botapi.add_channel(CHANNEL, "News", username="news", owner_id=OWNER)
    return botapi


async def test_get_me(bot: Bot, botapi: FakeBotApi) -> None:
    me = await bot.get_me()
    assert me.id == botapi.bot_id == 123456
    assert me.is_bot
    assert me.username == bot.username == "test_verify_bot"
    assert [c.method for c in botapi.calls] == ["getMe", "getMe"]  # initialize() + ours


@pytest.mark.parametrize(
    ("status", "kwargs", "cls"),
    [
        ("creator", {}, ChatMemberOwner),
        ("administrator", {"rights": {"can_restrict_members": False}}, ChatMemberAdministrator),
        ("member", {}, ChatMemberMember),
        ("restricted", {"permissions": {"can_send_polls": True}}, ChatMemberRestricted),
        ("left", {}, ChatMemberLeft),
        ("kicked", {"until_date": 2_000_000_000}, ChatMemberBanned),
    ],
)
async def test_get_chat_member_parses_every_status(
    bot: Bot, world: FakeBotApi, status: Any, kwargs: dict[str, Any], cls: type
) -> None:
    world.set_member(GROUP, USER, status, **kwargs)
    member = await bot.get_chat_member(GROUP, USER)
    assert type(member) is cls
    assert member.status == status
    assert member.user.id == USER
    assert member.user.username == "bob"
    assert member.api_kwargs == {}  # every field is one PTB knows
    if isinstance(member, ChatMemberAdministrator):
        assert member.can_restrict_members is False
        assert member.can_delete_messages is True
    if isinstance(member, ChatMemberRestricted):
        assert member.can_send_messages is False
        assert member.can_send_polls is True
        assert member.is_member is True
    if isinstance(member, ChatMemberBanned):
        assert member.until_date == dtm.datetime.fromtimestamp(2_000_000_000, dtm.timezone.utc)


async def test_channel_membership_and_lookup_errors(bot: Bot, world: FakeBotApi) -> None:
    assert (await bot.get_chat_member(CHANNEL, USER)).status == "left"  # never joined
    world.set_member(CHANNEL, USER, "member")
    assert (await bot.get_chat_member("@news", USER)).status == "member"
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(CHANNEL, 999)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.get_chat_member(-100999, USER)
    world.change_member(CHANNEL, world.bot_id, "member")  # the bot lost its admin rights
    with pytest.raises(BadRequest, match="Member list is inaccessible"):
        await bot.get_chat_member(CHANNEL, USER)


async def test_get_chat_and_administrators(bot: Bot, world: FakeBotApi) -> None:
    chat = await bot.get_chat(CHANNEL)
    assert isinstance(chat, ChatFullInfo)
    assert (chat.id, chat.type, chat.title, chat.username) == (CHANNEL, "channel", "News", "news")
    group = await bot.get_chat(GROUP)
    assert group.type == "supergroup"
    assert group.permissions is not None
    assert group.permissions.can_send_messages is True
    admins = await bot.get_chat_administrators(GROUP)
    assert [(a.user.id, a.status) for a in admins] == [
        (OWNER, "creator"),
        (world.bot_id, "administrator"),
    ]
    assert await bot.get_chat_member_count(GROUP) == 2


async def test_send_message_with_inline_keyboard(bot: Bot, world: FakeBotApi) -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Join News", url="https://t.me/news")],
            [InlineKeyboardButton("I joined", callback_data="verify:7")],
        ]
    )
    sent = await bot.send_message(GROUP, "Join @news to speak", reply_markup=markup)
    assert sent.chat.id == GROUP
    assert sent.from_user is not None
    assert sent.from_user.id == world.bot_id
    assert sent.reply_markup == markup
    call = world.last_call("sendMessage")
    assert call.params["chat_id"] == GROUP
    assert call.params["text"] == "Join @news to speak"
    assert call.params["reply_markup"]["inline_keyboard"][1][0]["callback_data"] == "verify:7"
    assert world.last_sent(GROUP)["message_id"] == sent.message_id
    # Digits-only text stays a string even though PTB form-encodes everything.
    assert (await bot.send_message(GROUP, "123")).text == "123"


async def test_restrict_then_unrestrict(bot: Bot, world: FakeBotApi) -> None:
    world.set_member(GROUP, USER, "member")
    until = int(time.time()) + 3600
    assert await bot.restrict_chat_member(GROUP, USER, MUTED, until_date=until)
    member = await bot.get_chat_member(GROUP, USER)
    assert isinstance(member, ChatMemberRestricted)
    assert member.is_member
    assert not member.can_send_messages
    assert member.until_date == dtm.datetime.fromtimestamp(until, dtm.timezone.utc)
    assert not world.can_send_messages(GROUP, USER)
    with pytest.raises(PermissionError):
        world.send_message(GROUP, USER, "hello?")

    # Granting only can_send_messages still restricts media: Telegram keeps them "restricted".
    await bot.restrict_chat_member(
        GROUP, USER, ChatPermissions(can_send_messages=True), use_independent_chat_permissions=True
    )
    assert world.status(GROUP, USER) == "restricted"
    assert world.can_send_messages(GROUP, USER)

    await bot.restrict_chat_member(GROUP, USER, ALL_ALLOWED)
    assert isinstance(await bot.get_chat_member(GROUP, USER), ChatMemberMember)


async def test_restrict_errors(bot: Bot, world: FakeBotApi) -> None:
    with pytest.raises(BadRequest, match="Can't remove chat owner"):
        await bot.restrict_chat_member(GROUP, OWNER, MUTED)
    world.add_group(-1003, "Basic", supergroup=False)
    with pytest.raises(BadRequest, match="Method is available only for supergroups"):
        await bot.restrict_chat_member(-1003, USER, MUTED)
    world.add_group(-1004, "No rights", bot_rights={"can_restrict_members": False})
    with pytest.raises(BadRequest, match="Not enough rights"):
        await bot.restrict_chat_member(-1004, USER, MUTED)


# PTB 22.2+ warns that retry_after becomes a timedelta in v23; both are accepted below.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_scripted_429_surfaces_as_retry_after(bot: Bot, world: FakeBotApi) -> None:
    world.fail_next("getChatMember", 429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.get_chat_member(CHANNEL, USER)
    retry_after = info.value.retry_after
    seconds = retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else retry_after
    assert seconds == 7
    body = world.last_call("getChatMember").response
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert (await bot.get_chat_member(CHANNEL, USER)).status == "left"  # only once


async def test_scripted_400_and_repeated_failures(bot: Bot, world: FakeBotApi) -> None:
    world.fail_next("restrictChatMember", 400, "Bad Request: PARTICIPANT_ID_INVALID", times=2)
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"(?i)participant_id_invalid"):
            await bot.restrict_chat_member(GROUP, USER, MUTED)
    assert await bot.restrict_chat_member(GROUP, USER, MUTED)
    assert [c.ok for c in world.calls_to("restrictChatMember")] == [False, False, True]


async def test_unknown_method_and_wrong_token(bot: Bot, botapi: FakeBotApi) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("fooBar")
    assert botapi.last_call("fooBar").response == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method fooBar",
    }
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=botapi.base_url):
            pass


async def test_raw_http_json_form_and_query_string(world: FakeBotApi) -> None:
    async with httpx.AsyncClient(base_url=world.url) as http:
        response = await http.get("getMe")
        assert response.status_code == 200
        assert response.json()["result"]["id"] == world.bot_id
        response = await http.post("sendMessage", json={"chat_id": GROUP, "text": "json"})
        assert response.json()["result"]["text"] == "json"
        response = await http.post("sendMessage", data={"chat_id": str(GROUP), "text": "form"})
        assert response.json()["result"]["text"] == "form"
        response = await http.post(
            "sendMessage", data={"chat_id": str(GROUP)}, files={"text": (None, b"multipart")}
        )
        assert response.json()["result"]["text"] == "multipart"
        response = await http.get("getChatMember", params={"chat_id": "@news", "user_id": USER})
        assert response.json()["result"]["status"] == "left"
        response = await http.post("sendMessage", json={"chat_id": GROUP})
        assert response.status_code == 400
        assert response.json() == {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: text is empty",
        }
        response = await http.post("SENDMESSAGE", json={"chat_id": GROUP, "text": "any case"})
        assert response.json()["ok"]
    assert world.calls_to("sendMessage")[-1].params == {"chat_id": GROUP, "text": "any case"}


async def test_get_updates_long_polls_and_confirms(bot: Bot, world: FakeBotApi) -> None:
    async def inject_later() -> None:
        await world.wait_until(lambda: world.polls_waiting == 1)  # the long poll is waiting
        world.send_message(GROUP, USER, "late")

    async with anyio.create_task_group() as tg:
        tg.start_soon(inject_later)
        updates = await bot.get_updates(timeout=30)  # answered by the update, not the timeout
    assert [u.message.text for u in updates if u.message] == ["late"]
    assert world.polls_waiting == 0

    world.send_message(GROUP, USER, "second")
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id, updates[0].update_id + 1]
    confirmed = await bot.get_updates(offset=again[-1].update_id + 1, timeout=0)
    assert confirmed == ()
    assert world.pending_updates == []

    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()  # nothing new: waits out the timeout
    assert time.monotonic() - started >= 0.9


async def test_chat_member_updates_need_allowed_updates_and_admin_bot(
    bot: Bot, world: FakeBotApi
) -> None:
    world.join(CHANNEL, USER)
    world.send_message(GROUP, USER, "hi")
    default = await bot.get_updates(timeout=0)
    assert [u.message.text for u in default if u.message] == ["hi"]
    assert not [u for u in default if u.chat_member]  # dropped: not asked for

    world.leave(CHANNEL, USER)
    updates = await bot.get_updates(timeout=0, allowed_updates=Update.ALL_TYPES)
    [update] = [u for u in updates if u.chat_member]
    assert update.chat_member is not None
    assert update.chat_member.chat.id == CHANNEL
    assert update.chat_member.old_chat_member.status == "member"
    assert update.chat_member.new_chat_member.status == "left"
    assert update.chat_member.from_user.id == USER

    world.add_channel(-1009, "Not admin", bot_status="member")
    world.join(-1009, USER)
    later = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert later == ()  # Telegram only tells admins about other members


async def test_join_group_sends_service_message_and_update(bot: Bot, world: FakeBotApi) -> None:
    world.join(GROUP, USER)
    updates = await bot.get_updates(timeout=0, allowed_updates=["message", "chat_member"])
    kinds = [(u.chat_member is not None, u.message is not None) for u in updates]
    assert kinds == [(True, False), (False, True)]
    message = updates[1].message
    assert message is not None
    assert [u.id for u in message.new_chat_members] == [USER]
    assert world.status(GROUP, USER) == "member"


async def test_edit_delete_and_not_modified(bot: Bot, world: FakeBotApi) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Verify", callback_data="v")]])
    sent = await bot.send_message(GROUP, "warning", reply_markup=markup)
    edited = await bot.edit_message_text("warning!", GROUP, sent.message_id, reply_markup=markup)
    assert isinstance(edited, type(sent))
    assert edited.text == "warning!"
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("warning!", GROUP, sent.message_id, reply_markup=markup)
    await bot.edit_message_reply_markup(GROUP, sent.message_id)  # no markup: keyboard removed
    assert "reply_markup" not in world.last_sent(GROUP)
    assert await bot.delete_message(GROUP, sent.message_id)
    assert world.is_deleted(GROUP, sent.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(GROUP, sent.message_id)
    user_message = world.send_message(GROUP, USER, "spam")
    assert await bot.delete_message(GROUP, user_message["message_id"])  # the bot is an admin


async def test_ban_unban_commands_and_webhook(bot: Bot, world: FakeBotApi) -> None:
    world.set_member(GROUP, USER, "member")
    assert await bot.ban_chat_member(GROUP, USER)
    assert world.status(GROUP, USER) == "kicked"
    assert await bot.unban_chat_member(GROUP, USER, only_if_banned=True)
    assert world.status(GROUP, USER) == "left"

    assert await bot.set_my_commands([("start", "Start"), ("status", "Show status")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "status"]

    assert await bot.set_webhook("https://example.invalid/hook")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.invalid/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""


async def test_application_polling_handles_message_and_button(world: FakeBotApi) -> None:
    seen: list[str] = []

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        assert update.effective_user is not None
        seen.append(f"text:{update.effective_user.id}")
        await context.bot.send_message(
            update.effective_chat.id,
            "Please verify",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("I joined", callback_data=f"verify:{USER}")]]
            ),
        )

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append("command:start")

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        seen.append(f"button:{query.data}:{query.from_user.id}")
        await query.answer("Verified!")
        await query.edit_message_text("Thanks")

    async def on_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.chat_member is not None
        seen.append(f"member:{update.chat_member.new_chat_member.status}")

    world.set_member(CHANNEL, USER, "member")
    app = Application.builder().token(world.token).base_url(world.base_url).build()
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(ChatMemberHandler(on_member, ChatMemberHandler.CHAT_MEMBER))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0, timeout=2, allowed_updates=Update.ALL_TYPES
        )
        try:
            world.send_message(GROUP, USER, "/start")
            world.send_message(GROUP, USER, "hello")
            warning_call = await world.wait_for_call("sendMessage")
            warning = warning_call.result
            assert warning["text"] == "Please verify"
            query_id = world.press_button(warning, user_id=USER, text="I joined")
            await world.wait_for_call("editMessageText")
            world.leave(CHANNEL, USER)
            await world.wait_until(lambda: "member:left" in seen)
        finally:
            await app.updater.stop()
            await app.stop()
    assert seen == ["command:start", f"text:{USER}", f"button:verify:{USER}:{USER}", "member:left"]
    assert world.callback_answer(query_id) == {"callback_query_id": query_id, "text": "Verified!"}
    assert world.last_sent(GROUP)["text"] == "Thanks"
    assert world.pending_updates == []  # the updater confirmed everything on stop


async def test_join_and_leave_refuse_no_op_transitions(world: FakeBotApi) -> None:
    with pytest.raises(ValueError, match="not in chat"):
        world.leave(CHANNEL, USER)
    world.join(CHANNEL, USER)
    with pytest.raises(ValueError, match="already in chat"):
        world.join(CHANNEL, USER)
    world.change_member(CHANNEL, USER, "kicked")
    with pytest.raises(PermissionError, match="banned"):
        world.join(CHANNEL, USER)


async def test_muted_user_who_rejoins_stays_muted(bot: Bot, world: FakeBotApi) -> None:
    world.set_member(GROUP, USER, "member")
    await bot.restrict_chat_member(GROUP, USER, MUTED)
    world.leave(GROUP, USER)
    member = world.member(GROUP, USER)
    assert (member["status"], member["is_member"]) == ("restricted", False)
    world.join(GROUP, USER)
    assert world.member(GROUP, USER)["is_member"] is True
    assert not world.can_send_messages(GROUP, USER)


async def test_bot_demotion_is_a_my_chat_member_update(bot: Bot, world: FakeBotApi) -> None:
    update = world.change_member(GROUP, world.bot_id, "member")
    assert update is not None
    assert "my_chat_member" in update
    [received] = await bot.get_updates(timeout=0)
    assert received.my_chat_member is not None
    assert received.my_chat_member.old_chat_member.status == "administrator"
    assert received.my_chat_member.from_user.id == OWNER
    with pytest.raises(BadRequest, match="Not enough rights"):
        await bot.restrict_chat_member(GROUP, USER, MUTED)


async def test_private_messages_commands_and_replies(bot: Bot, world: FakeBotApi) -> None:
    world.send_message(USER, USER, "/start@test_verify_bot deep-link")
    [update] = await bot.get_updates(timeout=0)
    message = update.message
    assert message is not None
    assert message.chat.type == "private"
    assert message.parse_entities() == {message.entities[0]: "/start@test_verify_bot"}
    reply = await bot.send_message(USER, "Welcome", reply_to_message_id=message.message_id)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == message.message_id
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(USER, "x", reply_to_message_id=999)


async def test_newer_get_updates_ends_a_waiting_one(bot: Bot, world: FakeBotApi) -> None:
    errors: list[Exception] = []

    async def first_poller(other: Bot) -> None:
        try:
            await other.get_updates(timeout=5)
        except Conflict as exc:
            errors.append(exc)

    async with Bot(world.token, base_url=world.base_url) as other, anyio.create_task_group() as tg:
        tg.start_soon(first_poller, other)
        await world.wait_until(lambda: world.polls_waiting == 1)  # the first call is waiting
        assert await bot.get_updates(timeout=0) == ()
    assert len(errors) == 1
    assert "terminated by other getUpdates request" in str(errors[0])


async def test_wait_for_call_times_out(world: FakeBotApi) -> None:
    with pytest.raises(TimeoutError, match=r"no sendMessage call within 0\.1 s"):
        await world.wait_for_call("sendMessage", within=0.1)
