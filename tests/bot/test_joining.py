"""The bot joining a group: recorded, rights checked, one expiring introduction, removal recorded."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.testing.fake import KICKED, too_many_requests
from storage.models import Chat, OutboxAction, Task
from tests.bot.conftest import ADMIN, GROUP, MEMBER, Harness

ALL_RIGHTS = {
    "can_delete_messages": True,
    "can_restrict_members": True,
    "can_pin_messages": True,
    "can_invite_users": True,
    "can_change_info": True,
}


async def stored_chat(harness: Harness) -> Chat:
    async with harness.session() as session:
        chat = await session.get(Chat, GROUP)
    assert chat is not None
    return chat


async def test_joining_as_admin_with_every_right_records_the_group_and_introduces_briefly(harness: Harness) -> None:
    harness.fake.start_private_chat(ADMIN)
    await harness.private(ADMIN, "/start")
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))

    chat = await stored_chat(harness)
    assert (chat.title, chat.bot_status, chat.state, chat.added_by) == (
        "朝阳社区工作群",
        "administrator",
        "active",
        ADMIN,
    )
    assert chat.bot_rights["can_delete_messages"] is True
    assert chat.member_count == 5
    [intro] = harness.texts(GROUP)
    assert "减负助手已加入" in intro and "缺少" not in intro
    assert intro.count("\n") <= 2  # short: the rights are detailed privately
    assert "朝阳社区工作群" in harness.last_text(ADMIN)
    async with harness.session() as session:
        [task] = (await session.scalars(select(Task))).all()
    assert task.kind == "delete_message"
    assert task.due_at == harness.clock() + timedelta(minutes=10)


async def test_joining_without_rights_lists_them_and_skips_an_adder_without_private_chat(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    [intro] = harness.texts(GROUP)
    assert "缺少管理员权限：删除消息、封禁成员、置顶消息、邀请用户、修改群信息" in intro
    assert harness.fake.sent(ADMIN) == []
    assert (await stored_chat(harness)).bot_status == "member"


async def test_group_language_override_is_used_for_the_introduction(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    async with harness.session() as session:
        (await session.get(Chat, GROUP)).language = "en"
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="member", new="left"))
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    assert "Jianfu has joined" in harness.last_text(GROUP)


async def test_introduction_expires_through_the_sweep(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))
    [intro] = harness.fake.sent(GROUP)
    assert await harness.sweep() == 0
    harness.clock.advance(timedelta(minutes=10))
    assert await harness.sweep() == 1
    assert harness.fake.is_deleted(GROUP, intro["message_id"])
    assert await harness.sweep() == 0


async def test_expiry_retries_after_429_and_gives_up_cleanly_when_kicked(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))
    [intro] = harness.fake.sent(GROUP)
    harness.clock.advance(timedelta(minutes=10))
    harness.fake.fail_next("deleteMessage", too_many_requests(5))
    assert await harness.sweep() == 1
    async with harness.session() as session:
        [row] = (await session.scalars(select(OutboxAction).where(OutboxAction.kind == "delete"))).all()
    # The expiry became an outbox deletion, which Telegram asked to retry later.
    assert (row.state, row.outcome) == ("pending", "RetryAfter")
    assert not harness.fake.is_deleted(GROUP, intro["message_id"])

    harness.clock.advance(timedelta(seconds=30))
    harness.fake.fail_next("deleteMessage", KICKED)
    assert await harness.sweep() == 1
    async with harness.session() as session:
        row = await session.get(OutboxAction, row.id)
        assert (row.state, row.outcome) == ("failed", "kicked")
        assert (await session.get(Chat, GROUP)).bot_status == "kicked"
    assert await harness.sweep() == 0


async def test_promotion_tells_the_promoter_what_is_still_missing(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    before = len(harness.texts(GROUP))
    rights = dict(ALL_RIGHTS, can_pin_messages=False)
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="member", new="administrator", rights=rights))
    assert "置顶消息" in harness.last_text(ADMIN) and "删除消息" not in harness.last_text(ADMIN)
    assert len(harness.texts(GROUP)) == before  # quiet in the group
    chat = await stored_chat(harness)
    assert chat.bot_status == "administrator" and chat.bot_rights["can_pin_messages"] is False


async def test_removal_is_recorded_and_silent(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    sent_before = len(harness.fake.calls_to("sendMessage"))
    harness.clock.advance(timedelta(hours=1))
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="member", new="kicked"))
    chat = await stored_chat(harness)
    assert chat.bot_status == "kicked"
    assert chat.left_at == harness.clock()
    assert len(harness.fake.calls_to("sendMessage")) == sent_before


async def test_joining_learns_the_admins_from_telegram(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, MEMBER, old="left", new="member"))
    from storage.repositories.chats import ChatRepository

    async with harness.session() as session:
        assert await ChatRepository(session).admin_ids(GROUP) == {ADMIN}
    assert len(harness.fake.calls_to("getChatAdministrators")) == 1
