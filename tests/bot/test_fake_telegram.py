"""FakeTelegram answers through a real PTB Bot as Telegram would; the update factories build valid updates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    ChatFullInfo,
    ChatInviteLink,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberRestricted,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageId,
    ReactionTypeEmoji,
    Update,
    User,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, CommandHandler

from bot.testing.fake import (
    BAD_GATEWAY,
    BLOCKED,
    CANT_DELETE,
    CHAT_NOT_FOUND,
    KICKED,
    NOT_MODIFIED,
    SERVER_ERROR,
    FakeError,
    FakeTelegram,
    parse_html,
    too_many_requests,
)
from bot.testing.updates import UpdateFactory, as_json

GROUP = -1001234567890
BASIC_GROUP = -4001
OWNER, ALICE, BOB = 101, 102, 103
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="ok:1")]])


@pytest.fixture
def fake(clock) -> FakeTelegram:
    fake = FakeTelegram(clock=clock)
    fake.add_user(OWNER, "王", last_name="书记", username="owner")
    fake.add_user(ALICE, "Alice")
    fake.add_user(BOB, "Bob", language_code="en")
    fake.add_group(GROUP, "社区工作群", creator_id=OWNER, members=[ALICE], admins=[BOB])
    fake.add_group(BASIC_GROUP, "小组", creator_id=OWNER, type="group")
    return fake


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = Bot(token="123:ABC", request=fake, get_updates_request=fake)
    await bot.initialize()
    yield bot
    await bot.shutdown()


@pytest.fixture
def updates(fake: FakeTelegram, bot: Bot) -> UpdateFactory:
    return UpdateFactory(fake, bot)


def promote_bot(fake: FakeTelegram, **rights: bool) -> None:
    fake.set_bot_member(GROUP, "administrator", **rights)


# --- bot, commands, webhook, updates -------------------------------------------------------


async def test_initialize_calls_get_me(fake: FakeTelegram, bot: Bot) -> None:
    assert isinstance(bot.bot, User)
    assert (bot.id, bot.username, bot.first_name) == (7000000001, "jianfu_bot", "减负 Jianfu")
    assert bot.can_join_groups is True
    assert [call.method for call in fake.calls] == ["getMe"]


async def test_application_initializes_offline(fake: FakeTelegram) -> None:
    app = ApplicationBuilder().token("123:ABC").request(fake).get_updates_request(fake).build()
    await app.initialize()
    try:
        assert app.bot.username == "jianfu_bot"
    finally:
        await app.shutdown()


async def test_application_processes_a_factory_update(fake: FakeTelegram) -> None:
    app = ApplicationBuilder().token("123:ABC").request(fake).get_updates_request(fake).build()

    async def start(update: Update, context) -> None:
        await update.effective_message.reply_html(f"你好, <b>{update.effective_user.first_name}</b>")

    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.process_update(UpdateFactory(fake, app.bot).private(ALICE, "/start"))
    [reply] = fake.sent(ALICE)
    assert (reply["text"], reply["raw_text"]) == ("你好, Alice", "你好, <b>Alice</b>")
    fake.assert_no_unknown_calls()


async def test_commands_are_stored_per_scope_and_language(bot: Bot) -> None:
    group_scope = BotCommandScopeAllGroupChats()
    assert await bot.set_my_commands([BotCommand("start", "开始")]) is True
    assert await bot.set_my_commands([BotCommand("help", "帮助")], scope=group_scope, language_code="zh") is True
    assert await bot.get_my_commands() == (BotCommand("start", "开始"),)
    assert await bot.get_my_commands(scope=group_scope, language_code="zh") == (BotCommand("help", "帮助"),)
    assert await bot.get_my_commands(scope=group_scope) == ()
    assert await bot.delete_my_commands() is True
    assert await bot.get_my_commands() == ()


async def test_invalid_command_name_is_rejected(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start-Now", "x")])


async def test_webhook_round_trip_and_get_updates_conflict(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.invalid/hook", allowed_updates=["message"]) is True
    info = await bot.get_webhook_info()
    assert (info.url, info.allowed_updates, info.pending_update_count) == (
        "https://example.invalid/hook", ("message",), 0,
    )  # fmt: skip
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook() is True
    assert (await bot.get_webhook_info()).url == ""


async def test_get_updates_confirms_by_offset_and_filters_opt_in_types(
    fake: FakeTelegram, bot: Bot, updates: UpdateFactory
) -> None:
    first = updates.message(GROUP, ALICE, "一")
    second = updates.message(GROUP, ALICE, "二")
    reaction = updates.reaction(GROUP, 1, ALICE)
    for update in (first, second, reaction):
        fake.push_update(as_json(update))

    got = await bot.get_updates(timeout=10)
    assert [u.message.text for u in got] == ["一", "二"]  # message_reaction needs allowed_updates
    got = await bot.get_updates(offset=second.update_id, allowed_updates=Update.ALL_TYPES)
    assert [u.update_id for u in got] == [second.update_id, reaction.update_id]
    assert await bot.get_updates(offset=reaction.update_id + 1) == ()
    assert fake.updates == []


# --- sending ---------------------------------------------------------------------------------


async def test_send_message_parses_html_into_text_and_entities(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(
        GROUP, "<b>通知</b> &lt;三&gt; &amp; <a href=\"https://t.me/x\">链接</a>", parse_mode=ParseMode.HTML,
        reply_markup=KEYBOARD,
    )  # fmt: skip
    assert isinstance(message, Message)
    assert message.text == "通知 <三> & 链接"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 0, 2), ("text_link", 9, 2)]
    assert message.text_html == '<b>通知</b> &lt;三&gt; &amp; <a href="https://t.me/x">链接</a>'
    assert message.reply_markup == KEYBOARD
    assert message.from_user.id == fake.bot_id and message.chat.title == "社区工作群"
    assert message.date == fake.clock()
    [sent] = fake.sent(GROUP)
    assert sent["message_id"] == message.message_id and sent["parse_mode"] == "HTML"
    assert sent["raw_text"].startswith("<b>通知</b>")


async def test_message_ids_count_per_chat_including_user_messages(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_message(GROUP, ALICE, "hi")
    assert (await bot.send_message(GROUP, "a")).message_id == 2
    assert (await bot.send_message(BASIC_GROUP, "b")).message_id == 1


async def test_reply_to_a_user_message(fake: FakeTelegram, bot: Bot) -> None:
    asked = fake.add_message(GROUP, ALICE, "问题")
    reply = await bot.send_message(GROUP, "回答", reply_to_message_id=asked["message_id"])
    assert reply.reply_to_message.text == "问题"
    assert reply.reply_to_message.from_user.id == ALICE
    assert fake.sent(GROUP)[0]["reply_to_message_id"] == asked["message_id"]
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(GROUP, "x", reply_to_message_id=999)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a < b", 'Can\'t parse entities: unescaped "<"'),
        ("<b>bold", "Can't parse entities: can't find end tag"),
        ("<b><i>x</b></i>", "Can't parse entities: unmatched end tag"),
        ("<script>x</script>", 'Can\'t parse entities: unsupported start tag "script"'),
        ("R&D", 'Can\'t parse entities: unescaped "&"'),
        ("a > b", 'Can\'t parse entities: unescaped ">"'),
        ("", "Message text is empty"),
        ("<b> </b>", "Message text is empty"),
        ("字" * 4097, "Message is too long"),
    ],
)
async def test_send_message_rejects_bad_text(bot: Bot, text: str, error: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(GROUP, text, parse_mode=ParseMode.HTML)
    # PTB strips "Bad Request: " and lower-cases the rest after the first letter.
    assert caught.value.message.startswith(error)


async def test_length_limit_counts_text_after_tags(bot: Bot) -> None:
    message = await bot.send_message(GROUP, "<b>" + "字" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    assert len(message.text) == 4096


def test_parse_html_accepts_telegram_tags() -> None:
    text, entities = parse_html(
        '<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">p</span><pre><code class="language-py">x</code></pre>'
        '<blockquote expandable>q</blockquote><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>&#39;😀<i>i</i>'
    )
    assert text == "spxq👍'😀i"
    assert [e["type"] for e in entities] == [
        "spoiler", "spoiler", "pre", "expandable_blockquote", "custom_emoji", "italic",
    ]  # fmt: skip
    assert entities[2]["language"] == "py"
    assert entities[-1]["offset"] == 9  # 👍 and 😀 count as two UTF-16 units each


async def test_plain_text_is_not_html_checked(bot: Bot) -> None:
    assert (await bot.send_message(GROUP, "a < b & c")).text == "a < b & c"


async def test_media_messages(fake: FakeTelegram, bot: Bot) -> None:
    photo = await bot.send_photo(GROUP, "AgACphoto", caption="<i>图</i>", parse_mode=ParseMode.HTML)
    assert photo.photo[-1].file_id == "AgACphoto" and photo.caption == "图"
    assert photo.caption_entities[0].type == "italic"
    document = await bot.send_document(GROUP, "BQACdoc")
    assert document.document.file_id == "BQACdoc" and document.caption is None
    sticker = await bot.send_sticker(GROUP, "CAACsticker", emoji="🙏")
    assert sticker.sticker.file_id == "CAACsticker" and sticker.sticker.emoji == "🙏"
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(GROUP, "AgACphoto", caption="x" * 1025)
    assert len(fake.sent(GROUP)) == 3


async def test_copy_and_forward(fake: FakeTelegram, bot: Bot) -> None:
    fake.start_private_chat(ALICE)
    original = fake.add_message(GROUP, BOB, "原文")
    copied = await bot.copy_message(ALICE, GROUP, original["message_id"])
    assert isinstance(copied, MessageId)
    assert fake.message(ALICE, copied.message_id)["text"] == "原文"
    forwarded = await bot.forward_message(ALICE, GROUP, original["message_id"])
    assert forwarded.text == "原文" and forwarded.forward_origin.sender_user.id == BOB
    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(ALICE, GROUP, 999)


async def test_send_chat_action(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.send_chat_action(GROUP, "typing") is True
    assert fake.calls_to("sendChatAction") == [{"chat_id": GROUP, "action": "typing"}]


async def test_restricted_bot_cannot_send(fake: FakeTelegram, bot: Bot) -> None:
    fake.set_bot_member(GROUP, "restricted", can_send_messages=False)
    with pytest.raises(BadRequest, match="Not enough rights to send text messages"):
        await bot.send_message(GROUP, "x")


# --- private chats and removal ----------------------------------------------------------------


async def test_private_chat_needs_start_and_respects_block(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(ALICE, "你好")
    fake.start_private_chat(ALICE)
    message = await bot.send_message(ALICE, "你好")
    assert message.chat.type == "private" and message.chat.first_name == "Alice"
    fake.block_bot(ALICE)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "还在吗")


async def test_unknown_chat_is_bad_request(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-100999, "x")


async def test_kicked_bot_gets_forbidden_everywhere(fake: FakeTelegram, bot: Bot) -> None:
    fake.remove_bot(GROUP)
    fake.remove_bot(BASIC_GROUP)
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "x")
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.get_chat(GROUP)
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.leave_chat(GROUP)
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(BASIC_GROUP, "x")


async def test_leave_chat(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.leave_chat(GROUP) is True
    assert fake.member_status(GROUP, fake.bot_id) == "left"
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await bot.send_message(GROUP, "x")


# --- editing ---------------------------------------------------------------------------------


async def test_edit_text_and_markup(fake: FakeTelegram, bot: Bot, clock) -> None:
    sent = await bot.send_message(GROUP, "草稿", reply_markup=KEYBOARD)
    clock.advance(timedelta(minutes=1))
    edited = await bot.edit_message_text("定稿", GROUP, sent.message_id, reply_markup=KEYBOARD)
    assert edited.text == "定稿" and edited.edit_date == clock() and edited.reply_markup == KEYBOARD
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("定稿", GROUP, sent.message_id, reply_markup=KEYBOARD)
    without = await bot.edit_message_reply_markup(GROUP, sent.message_id)
    assert without.reply_markup is None and fake.message(GROUP, sent.message_id)["text"] == "定稿"
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(GROUP, sent.message_id)


async def test_edit_text_without_markup_drops_the_keyboard(bot: Bot) -> None:
    sent = await bot.send_message(GROUP, "草稿", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("定稿", GROUP, sent.message_id)
    assert edited.reply_markup is None


async def test_edit_only_existing_bot_messages(fake: FakeTelegram, bot: Bot) -> None:
    theirs = fake.add_message(GROUP, ALICE, "hi")
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", GROUP, theirs["message_id"])
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", GROUP, 999)


# --- deleting --------------------------------------------------------------------------------


async def test_bot_deletes_own_message_within_48_hours(fake: FakeTelegram, bot: Bot, clock) -> None:
    fresh = await bot.send_message(GROUP, "新")
    old = await bot.send_message(GROUP, "旧")
    clock.advance(timedelta(hours=47, minutes=59))
    assert await bot.delete_message(GROUP, fresh.message_id) is True
    assert fake.is_deleted(GROUP, fresh.message_id)
    assert [m["text"] for m in fake.sent(GROUP)] == ["旧"]
    assert [m["deleted"] for m in fake.sent(GROUP, include_deleted=True)] == [True, False]
    clock.advance(timedelta(minutes=2))
    with pytest.raises(BadRequest) as caught:
        await bot.delete_message(GROUP, old.message_id)
    assert caught.value.message == "Message can't be deleted"
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(GROUP, fresh.message_id)


async def test_deleting_others_messages_needs_the_right(fake: FakeTelegram, bot: Bot) -> None:
    theirs = fake.add_message(GROUP, ALICE, "广告")
    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await bot.delete_message(GROUP, theirs["message_id"])
    promote_bot(fake, can_pin_messages=True)
    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await bot.delete_message(GROUP, theirs["message_id"])
    promote_bot(fake, can_delete_messages=True)
    assert await bot.delete_message(GROUP, theirs["message_id"]) is True
    assert fake.is_deleted(GROUP, theirs["message_id"])


async def test_delete_in_private_chat(fake: FakeTelegram, bot: Bot) -> None:
    fake.start_private_chat(ALICE)
    incoming = fake.add_message(ALICE, ALICE, "hi")
    assert await bot.delete_message(ALICE, incoming["message_id"]) is True


async def test_delete_messages_skips_missing_and_is_all_or_nothing(fake: FakeTelegram, bot: Bot) -> None:
    mine = await bot.send_message(GROUP, "a")
    theirs = fake.add_message(GROUP, ALICE, "b")
    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await bot.delete_messages(GROUP, [mine.message_id, theirs["message_id"]])
    assert not fake.is_deleted(GROUP, mine.message_id)
    assert await bot.delete_messages(GROUP, [mine.message_id, 999]) is True
    assert fake.is_deleted(GROUP, mine.message_id)


# --- pins, callbacks -------------------------------------------------------------------------


async def test_pin_needs_can_pin_messages(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(GROUP, "置顶")
    with pytest.raises(BadRequest) as caught:
        await bot.pin_chat_message(GROUP, sent.message_id)
    assert caught.value.message == "Not enough rights to manage pinned messages in the chat"
    promote_bot(fake, can_pin_messages=True)
    assert await bot.pin_chat_message(GROUP, sent.message_id) is True
    assert (await bot.get_chat(GROUP)).pinned_message.message_id == sent.message_id
    assert await bot.unpin_chat_message(GROUP, sent.message_id) is True
    assert await bot.unpin_all_chat_messages(GROUP) is True
    assert (await bot.get_chat(GROUP)).pinned_message is None


async def test_answer_callback_query_once(fake: FakeTelegram, bot: Bot, updates: UpdateFactory) -> None:
    sent = await bot.send_message(GROUP, "选", reply_markup=KEYBOARD)
    update = updates.callback(ALICE, GROUP, sent.message_id, "ok:1")
    query = update.callback_query
    assert (query.data, query.from_user.id, query.message.message_id) == ("ok:1", ALICE, sent.message_id)
    assert query.message.reply_markup == KEYBOARD
    assert await query.answer("收到") is True
    assert fake.answered_callbacks[query.id]["text"] == "收到"
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer()


# --- chat info and administration ------------------------------------------------------------


async def test_get_chat_parses_as_full_info(fake: FakeTelegram, bot: Bot) -> None:
    info = await bot.get_chat(GROUP)
    assert isinstance(info, ChatFullInfo)
    assert (info.id, info.type, info.title, info.max_reaction_count) == (GROUP, "supergroup", "社区工作群", 11)
    assert info.permissions.can_send_messages is True
    fake.start_private_chat(ALICE)
    private = await bot.get_chat(ALICE)
    assert (private.type, private.first_name) == ("private", "Alice")


async def test_get_chat_member_for_every_status(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(104, "Dan")
    fake.add_user(105, "Eve")
    fake.add_user(106, "Zed")
    fake.set_member(GROUP, 104, "restricted", can_send_messages=False)
    fake.set_member(GROUP, 105, "kicked")
    promote_bot(fake, can_delete_messages=True)
    expected = {
        OWNER: ChatMemberOwner, BOB: ChatMemberAdministrator, ALICE: ChatMemberMember,
        104: ChatMemberRestricted, 105: ChatMemberBanned, 106: ChatMemberLeft,
        fake.bot_id: ChatMemberAdministrator,
    }  # fmt: skip
    for user_id, kind in expected.items():
        member = await bot.get_chat_member(GROUP, user_id)
        assert type(member) is kind and member.user.id == user_id
    me = await bot.get_chat_member(GROUP, fake.bot_id)
    assert me.can_delete_messages is True and me.can_restrict_members is False
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(GROUP, 999)


async def test_administrators_and_member_count(fake: FakeTelegram, bot: Bot) -> None:
    promote_bot(fake, can_invite_users=True)
    admins = await bot.get_chat_administrators(GROUP)
    assert {a.user.id for a in admins} == {OWNER, BOB, fake.bot_id}
    # creator, admin, member, bot
    assert await bot.get_chat_member_count(GROUP) == 4
    fake.set_member(GROUP, ALICE, "left")
    assert await bot.get_chat_member_count(GROUP) == 3


async def test_set_chat_permissions_needs_can_restrict_members(fake: FakeTelegram, bot: Bot) -> None:
    quiet = ChatPermissions(can_send_messages=False)
    with pytest.raises(BadRequest) as caught:
        await bot.set_chat_permissions(GROUP, quiet)
    assert caught.value.message == "Not enough rights to restrict/unrestrict chat member"
    promote_bot(fake, can_restrict_members=True)
    assert await bot.set_chat_permissions(GROUP, quiet) is True
    assert (await bot.get_chat(GROUP)).permissions.can_send_messages is False
    with pytest.raises(BadRequest, match="Chat_not_modified"):
        await bot.set_chat_permissions(GROUP, quiet)


async def test_set_chat_title_needs_can_change_info(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Not enough rights to change chat title"):
        await bot.set_chat_title(GROUP, "新名")
    promote_bot(fake, can_change_info=True)
    assert await bot.set_chat_title(GROUP, "新名") is True
    assert (await bot.get_chat(GROUP)).title == "新名"


async def test_invite_links(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Not enough rights"):
        await bot.create_chat_invite_link(GROUP)
    promote_bot(fake, can_invite_users=True)
    link = await bot.create_chat_invite_link(GROUP, name="新人", member_limit=5)
    assert isinstance(link, ChatInviteLink)
    assert link.invite_link.startswith("https://t.me/+") and link.creator.id == fake.bot_id
    assert (link.name, link.member_limit, link.is_revoked, link.is_primary) == ("新人", 5, False, False)
    edited = await bot.edit_chat_invite_link(GROUP, link.invite_link, member_limit=9)
    assert edited.member_limit == 9 and edited.name == "新人"
    revoked = await bot.revoke_chat_invite_link(GROUP, link.invite_link)
    assert revoked.is_revoked is True
    primary = await bot.export_chat_invite_link(GROUP)
    assert primary.startswith("https://t.me/+") and (await bot.get_chat(GROUP)).invite_link == primary


# --- errors and failure injection ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "exception", "text"),
    [
        (CANT_DELETE, BadRequest, "Message can't be deleted"),
        (CHAT_NOT_FOUND, BadRequest, "Chat not found"),
        (NOT_MODIFIED, BadRequest, "Message is not modified"),
        (KICKED, Forbidden, "Forbidden: bot was kicked from the supergroup chat"),
        (BLOCKED, Forbidden, "Forbidden: bot was blocked by the user"),
        (BAD_GATEWAY, NetworkError, "Bad Gateway"),
        (SERVER_ERROR, NetworkError, "Internal Server Error"),
        (FakeError(400, "Bad Request: custom"), BadRequest, "Custom"),
    ],
)
async def test_injected_errors_map_to_ptb_exceptions(
    fake: FakeTelegram, bot: Bot, error: FakeError, exception: type[Exception], text: str
) -> None:
    fake.fail_next("sendMessage", error)
    with pytest.raises(exception) as caught:
        await bot.send_message(GROUP, "x")
    assert type(caught.value) is exception and caught.value.message.startswith(text)
    assert (await bot.send_message(GROUP, "x")).text == "x"  # one failure only


async def test_retry_after_and_timeout(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", too_many_requests(7))
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "x")
    # tests/conftest.py opts in to PTB 23's timedelta (PTB_TIMEDELTA=1).
    assert caught.value.retry_after == timedelta(seconds=7)
    fake.fail_next("deleteMessage", "timeout", times=2)
    for _ in range(2):
        with pytest.raises(TimedOut):
            await bot.delete_message(GROUP, 1)
    assert len(fake.calls_to("deleteMessage")) == 2


async def test_fail_next_can_target_one_chat(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", KICKED, chat_id=BASIC_GROUP)
    assert (await bot.send_message(GROUP, "a")).chat.id == GROUP
    with pytest.raises(Forbidden):
        await bot.send_message(BASIC_GROUP, "b")


async def test_unknown_method_is_recorded_and_fails_the_test(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_poll(GROUP, "Q?", ["a", "b"])
    assert caught.value.message == "Method not implemented by faketelegram: sendpoll"
    assert [call.method for call in fake.unknown_calls] == ["sendPoll"]
    with pytest.raises(AssertionError, match="sendPoll"):
        fake.assert_no_unknown_calls()
    fake.reset_calls()
    fake.assert_no_unknown_calls()
    assert fake.calls == []


# --- update factories ------------------------------------------------------------------------


async def _start(update, context) -> None:  # pragma: no cover - never called, only matched
    pass


@pytest.mark.parametrize("text", ["/start", "/start@jianfu_bot", "/start@jianfu_bot payload"])
async def test_group_command_matches_command_handler(updates: UpdateFactory, text: str) -> None:
    update = updates.command(GROUP, ALICE, text)
    assert CommandHandler("start", _start).check_update(update)
    assert not CommandHandler("help", _start).check_update(update)
    assert update.effective_user.id == ALICE and update.effective_chat.id == GROUP
    assert update.effective_chat.type == "supergroup"


async def test_command_for_another_bot_does_not_match(updates: UpdateFactory) -> None:
    update = updates.command(GROUP, ALICE, "/start@other_bot")
    assert not CommandHandler("start", _start).check_update(update)


async def test_private_start_opens_the_chat(fake: FakeTelegram, bot: Bot, updates: UpdateFactory) -> None:
    update = updates.private(ALICE, "/start")
    assert CommandHandler("start", _start).check_update(update)
    assert update.effective_chat.type == "private" and update.effective_chat.id == ALICE
    assert (await update.message.reply_text("欢迎")).chat.id == ALICE


async def test_update_ids_increase_and_messages_are_stored(fake: FakeTelegram, updates: UpdateFactory) -> None:
    first = updates.message(GROUP, ALICE, "早")
    reply = updates.message(GROUP, BOB, "收到", reply_to=first.message.message_id)
    assert reply.update_id == first.update_id + 1
    assert reply.message.reply_to_message.text == "早"
    assert fake.message(GROUP, first.message.message_id)["text"] == "早"


async def test_bot_deletes_a_factory_message(fake: FakeTelegram, bot: Bot, updates: UpdateFactory) -> None:
    promote_bot(fake, can_delete_messages=True)
    update = updates.sticker(GROUP, ALICE, "👍")
    assert update.message.sticker.emoji == "👍"
    assert await update.message.delete() is True
    assert fake.is_deleted(GROUP, update.message.message_id)


async def test_edited_photo_document_and_new_members(fake: FakeTelegram, updates: UpdateFactory) -> None:
    original = updates.message(GROUP, ALICE, "收到")
    edited = updates.edited(GROUP, original.message.message_id, "已完成", user_id=ALICE)
    assert edited.edited_message.text == "已完成" and edited.edited_message.edit_date is not None
    assert fake.message(GROUP, original.message.message_id)["text"] == "已完成"
    photo = updates.photo(GROUP, ALICE, caption="截图")
    assert photo.message.caption == "截图" and len(photo.message.photo) == 2
    document = updates.document(GROUP, BOB, file_name="报表.xlsx")
    assert document.message.document.file_name == "报表.xlsx"
    fake.add_user(104, "Dan")
    joined = updates.new_members(GROUP, [104])
    assert [u.id for u in joined.message.new_chat_members] == [104]
    assert fake.member_status(GROUP, 104) == "member"


async def test_reaction_updates_de_json(updates: UpdateFactory) -> None:
    update = updates.reaction(GROUP, 5, ALICE, new=("👍", "🔥"), old=("👎",))
    reaction = update.message_reaction
    assert reaction.new_reaction == (ReactionTypeEmoji("👍"), ReactionTypeEmoji("🔥"))
    assert reaction.old_reaction == (ReactionTypeEmoji("👎"),)
    assert update.effective_user.id == ALICE and update.effective_chat.id == GROUP
    counts = updates.reaction_count(GROUP, 5, {"👍": 3}).message_reaction_count
    assert [(r.type.emoji, r.total_count) for r in counts.reactions] == [("👍", 3)]


async def test_chat_member_update_applies_to_the_world(bot: Bot, updates: UpdateFactory) -> None:
    update = updates.chat_member(GROUP, ALICE, rights={"can_delete_messages": True})
    change = update.chat_member
    assert isinstance(change.old_chat_member, ChatMemberMember)
    assert isinstance(change.new_chat_member, ChatMemberAdministrator)
    assert change.new_chat_member.can_delete_messages is True and change.from_user.id == OWNER
    member = await bot.get_chat_member(GROUP, ALICE)
    assert isinstance(member, ChatMemberAdministrator) and member.can_delete_messages is True
    restricted = updates.chat_member(GROUP, BOB, old="administrator", new="restricted")
    assert isinstance(restricted.chat_member.new_chat_member, ChatMemberRestricted)


async def test_my_chat_member_promotes_the_bot(fake: FakeTelegram, bot: Bot, updates: UpdateFactory) -> None:
    update = updates.my_chat_member(
        GROUP, OWNER, old="member", new="administrator", rights={"can_delete_messages": True}
    )
    assert update.my_chat_member.new_chat_member.user.id == fake.bot_id
    assert update.effective_user.id == OWNER
    theirs = fake.add_message(GROUP, ALICE, "x")
    assert await bot.delete_message(GROUP, theirs["message_id"]) is True
    updates.my_chat_member(GROUP, OWNER, old="administrator", new="kicked")
    with pytest.raises(Forbidden):
        await bot.send_message(GROUP, "x")


async def test_my_chat_member_in_private_blocks(fake: FakeTelegram, bot: Bot, updates: UpdateFactory) -> None:
    updates.private(ALICE, "/start")
    update = updates.my_chat_member(ALICE, ALICE, old="member", new="kicked")
    assert isinstance(update.my_chat_member.new_chat_member, ChatMemberBanned)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(ALICE, "x")


async def test_as_json_round_trips_through_get_updates(fake: FakeTelegram, bot: Bot, updates: UpdateFactory) -> None:
    update = updates.command(GROUP, ALICE, "/start@jianfu_bot")
    fake.push_update(as_json(update))
    [received] = await bot.get_updates()
    assert received.message.text == "/start@jianfu_bot"
    assert CommandHandler("start", _start).check_update(received)
