"""/inbox: every group's unread notices in one private list, soonest deadline first, read from there."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from storage.models import Notice, Read
from tests.bot.conftest import ADMIN, GROUP, MEMBER, SUPERVISOR, Harness

OTHER = -1001234500002
ALL_RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)


async def setup_groups(harness: Harness) -> None:
    harness.fake.add_group(OTHER, "卫健工作群", creator_id=ADMIN, members=[MEMBER])
    for chat in (GROUP, OTHER):
        await harness.send(
            harness.updates.my_chat_member(chat, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS)
        )
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.private(SUPERVISOR, "/dept add 卫健委")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await harness.command(OTHER, ADMIN, "/register 卫健委")
    await harness.private(MEMBER, "/start")
    # The member is known in both groups (the bot learns members from what they do).
    for chat in (GROUP, OTHER):
        await harness.send(harness.updates.message(chat, MEMBER, "大家好"))


async def post(harness: Harness, chat: int, text: str) -> int:
    update = harness.updates.message(chat, ADMIN, text)
    await harness.send(update)
    return update.message.message_id


async def test_inbox_lists_unread_notices_of_every_group_soonest_deadline_first(harness: Harness) -> None:
    await setup_groups(harness)
    await post(harness, GROUP, "#通知 请节约用水")
    await post(harness, OTHER, "【通知】12月5日前报送疫苗台账")
    await post(harness, GROUP, "【通知】11月30日前报送走访台账")
    read_one = await post(harness, OTHER, "#通知 已读的这条")
    await harness.send(harness.updates.reaction(OTHER, read_one, MEMBER, new=("👍",)))
    await harness.private(MEMBER, "/inbox")
    text = harness.last_text(MEMBER)
    assert "3 条" in text
    assert text.index("走访台账") < text.index("疫苗台账") < text.index("节约用水")
    assert "卫健工作群" in text and "卫健委" in text and "已读的这条" not in text
    buttons = harness.fake.sent(MEMBER)[-1]["reply_markup"]["inline_keyboard"]
    assert buttons[0][1]["url"].startswith("https://t.me/c/1234500001/")

    await harness.private(MEMBER, "/inbox all")
    assert "已读的这条" in harness.last_text(MEMBER) and "4 条" in harness.last_text(MEMBER)
    await harness.private(MEMBER, "/inbox 卫健委")
    assert "疫苗台账" in harness.last_text(MEMBER) and "走访台账" not in harness.last_text(MEMBER)
    await harness.private(MEMBER, "/inbox 交通局")
    assert "没有找到部门「交通局」" in harness.last_text(MEMBER)


async def test_reading_from_the_inbox_counts_once_and_the_page_follows(harness: Harness) -> None:
    await setup_groups(harness)
    for number in range(7):
        await post(harness, GROUP, f"#通知 第{number}号通知")
    await harness.private(MEMBER, "/inbox")
    message = harness.fake.sent(MEMBER)[-1]
    assert "第 1/2 页" in message["text"]
    next_page = message["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]
    await harness.send(harness.updates.callback(MEMBER, MEMBER, message["message_id"], next_page))
    page_two = harness.fake.message(MEMBER, message["message_id"])
    assert "第 2/2 页" in page_two["text"]
    read = page_two["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for _ in range(2):
        await harness.send(harness.updates.callback(MEMBER, MEMBER, message["message_id"], read))
    assert "6 条" in harness.fake.message(MEMBER, message["message_id"])["text"]
    async with harness.session() as session:
        vias = list(await session.scalars(select(Read.via).where(Read.person_id == MEMBER)))
    assert vias == ["inbox"]


async def test_inbox_is_private_and_empty_inboxes_say_so(harness: Harness) -> None:
    await harness.command(GROUP, MEMBER, "/inbox")
    assert harness.last_text(GROUP) == "这个命令请在与我的私聊中使用。"
    await harness.private(MEMBER, "/inbox")
    assert "没有未读通知" in harness.last_text(MEMBER)


async def test_a_notice_posted_in_quiet_hours_counts_as_after_hours(harness: Harness) -> None:
    from datetime import timedelta

    from storage.models import Event

    await setup_groups(harness)
    await post(harness, GROUP, "#通知 工作时间的通知")
    harness.clock.advance(timedelta(hours=13))  # 22:00 in Shanghai
    await post(harness, GROUP, "#通知 晚上发的通知")
    await post(harness, GROUP, "【紧急】晚上的紧急通知")
    async with harness.session() as session:
        kinds = list(await session.scalars(select(Event.kind).where(Event.kind == "after_hours_notice")))
    assert kinds == ["after_hours_notice"]
    await harness.command(OTHER, ADMIN, "/set quiet off")
    await post(harness, OTHER, "#通知 关了免打扰")
    async with harness.session() as session:
        assert len(list(await session.scalars(select(Event.kind).where(Event.kind == "after_hours_notice")))) == 1


async def test_unread_members_are_reminded_before_a_deadline_outside_quiet_hours(harness: Harness) -> None:
    from datetime import timedelta

    await setup_groups(harness)
    await harness.private(ADMIN, "/start")
    notice = await post(harness, GROUP, "【通知】11月25日22:00前报送台账")
    await harness.send(harness.updates.reaction(GROUP, notice, ADMIN, new=("👍",)))
    before_member, before_admin = len(harness.texts(MEMBER)), len(harness.texts(ADMIN))
    # 24 hours before is 11-24 22:00, a quiet evening: the reminder waits for 07:30 on the 25th.
    harness.clock.advance(timedelta(days=1, hours=13))  # 11-24 22:00 local
    await harness.sweep()
    assert len(harness.texts(MEMBER)) == before_member
    harness.clock.advance(timedelta(hours=9, minutes=30))  # 11-25 07:30 local
    await harness.sweep()
    assert "截止提醒" in harness.last_text(MEMBER) and "11-25 22:00" in harness.last_text(MEMBER)
    assert len(harness.texts(ADMIN)) == before_admin  # read it already
    await harness.sweep()
    assert len(harness.texts(MEMBER)) == before_member + 1


async def test_the_same_notice_in_two_groups_shows_once_and_is_read_once(harness: Harness) -> None:
    await setup_groups(harness)
    text = "【通知】请于12月5日前报送第四季度独居老人走访台账"
    await post(harness, GROUP, text)
    copy = await post(harness, OTHER, text + "！")
    await harness.private(MEMBER, "/inbox")
    message = harness.fake.sent(MEMBER)[-1]
    assert "1 条" in message["text"] and "另有 1 个群也发了" in message["text"]
    read = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await harness.send(harness.updates.callback(MEMBER, MEMBER, message["message_id"], read))
    async with harness.session() as session:
        rows = await session.execute(select(Read.chat_id, Read.message_id).where(Read.person_id == MEMBER))
        read_messages = {tuple(row) for row in rows.all()}
    assert (OTHER, copy) in read_messages and len(read_messages) == 2


async def test_a_data_request_copied_by_another_department_is_counted(harness: Harness) -> None:
    from datetime import timedelta

    from storage.models import Event, Notice

    await setup_groups(harness)
    await post(harness, GROUP, "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人王芳。")
    await post(harness, OTHER, "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人：李明。")
    harness.clock.advance(timedelta(days=15))
    await post(
        harness, OTHER, "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人王芳。"
    )  # outside the window
    async with harness.session() as session:
        links = [n.duplicate_of is not None for n in (await session.scalars(select(Notice).order_by(Notice.id))).all()]
        events = list(await session.scalars(select(Event.kind).where(Event.kind == "duplicate_data_request")))
    assert links == [False, True, False]
    assert events == ["duplicate_data_request"]


@pytest.mark.parametrize(("other_department", "counted"), [("卫健委", True), ("民政局", False)])
async def test_a_data_request_copied_word_for_word_is_counted_only_across_departments(
    harness: Harness, other_department: str, counted: bool
) -> None:
    from storage.models import Event, Notice

    await setup_groups(harness)
    if other_department == "民政局":
        await harness.command(OTHER, ADMIN, "/register 民政局")
    text = "【通知】请各社区于12月5日前报送第四季度独居老人走访台账"
    await post(harness, GROUP, text)
    await post(harness, OTHER, text)
    async with harness.session() as session:
        notices = (await session.scalars(select(Notice).order_by(Notice.id))).all()
        events = list(await session.scalars(select(Event.kind).where(Event.kind == "duplicate_data_request")))
    assert [notice.kind for notice in notices] == ["data_request", "data_request"]
    assert notices[1].duplicate_of == notices[0].id
    assert events == (["duplicate_data_request"] if counted else [])


async def test_a_malformed_inbox_button_changes_nothing_and_says_so(harness: Harness) -> None:
    await harness.private(MEMBER, "/inbox")
    message = harness.fake.sent(MEMBER)[-1]
    await harness.send(harness.updates.callback(MEMBER, MEMBER, message["message_id"], "ib:r:x:1:0:0"))
    assert harness.fake.calls_to("answerCallbackQuery")[-1]["text"] == "这个按钮已失效，请重新发送命令。"
    async with harness.session() as session:
        assert list(await session.scalars(select(Read))) == []


async def test_reading_the_last_notice_of_the_last_page_shows_the_page_before(harness: Harness) -> None:
    await setup_groups(harness)
    for number in range(6):
        await post(harness, GROUP, f"#通知 第{number}号通知")
    await harness.private(MEMBER, "/inbox")
    message = harness.fake.sent(MEMBER)[-1]
    next_page = message["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]
    await harness.send(harness.updates.callback(MEMBER, MEMBER, message["message_id"], next_page))
    page_two = harness.fake.message(MEMBER, message["message_id"])
    assert "第 2/2 页" in page_two["text"]
    read = page_two["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await harness.send(harness.updates.callback(MEMBER, MEMBER, message["message_id"], read))
    shown = harness.fake.message(MEMBER, message["message_id"])
    assert "5 条（第 1/1 页）" in shown["text"] and shown["text"].count("号通知") == 5


async def test_a_copy_posted_in_another_group_goes_in_linked_in_one_statement(harness: Harness) -> None:
    await setup_groups(harness)
    text = "【通知】请于12月5日前报送第四季度独居老人走访台账"
    await post(harness, GROUP, text)
    written: list[str] = []

    kinds = {"SELECT notices.id": "select", "INSERT INTO notices": "insert", "UPDATE notices": "update"}

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        written.extend(kind for prefix, kind in kinds.items() if statement.startswith(prefix))

    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", note)
    try:
        copy = await post(harness, OTHER, text)
        await harness.send(harness.updates.edited(OTHER, copy, text + "（更正）", user_id=ADMIN))
    finally:
        event.remove(harness.db.engine.sync_engine, "before_cursor_execute", note)
    # The copy: its row in one INSERT that finds its original and that original's department
    # (the digest counts data requests copied across departments), with no lookup of its own
    # message and no UPDATE after; the edit: its row looked up and updated.
    assert written == ["insert", "select", "update"]
    async with harness.session() as session:
        stored = {n.chat_id: n for n in (await session.scalars(select(Notice))).all()}
    assert stored[OTHER].duplicate_of == stored[GROUP].id and stored[OTHER].text.endswith("（更正）")
