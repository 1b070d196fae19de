"""Notices through the application: every form is collected, charged to the right department,
read once whichever way, and people who never started the bot are left alone."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import Department, Notice, Read
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness

ALL_RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)


async def join(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))


async def stored(harness: Harness) -> dict[str, Notice]:
    async with harness.session() as session:
        return {notice.text: notice for notice in await session.scalars(select(Notice))}


async def test_every_notice_form_is_collected_and_ordinary_messages_never(harness: Harness) -> None:
    await join(harness)
    for text in (
        "#通知 周六停水",
        "【会议通知】周三下午3点例会",
        "通知：请于11月30日前报送台账",
        "Notice: please submit the form by Dec 3",
        "#notice office closed on Friday",
        "大家早上好",
        "收到",
    ):
        await harness.send(harness.updates.message(GROUP, ADMIN, text))
    await harness.send(harness.updates.document(GROUP, ADMIN, caption="【通知】附件是第四季度统计表，请填报"))
    await harness.send(harness.updates.document(GROUP, ADMIN, caption="会议照片"))
    await harness.send(harness.updates.document(GROUP, ADMIN))
    await harness.send(harness.updates.message(GROUP, ADMIN, "/urgent #通知 今晚十点前上报受灾情况"))
    notices = await stored(harness)
    assert {text: notice.kind for text, notice in notices.items()} == {
        "#通知 周六停水": "notice",
        "【会议通知】周三下午3点例会": "meeting",
        "通知：请于11月30日前报送台账": "data_request",
        "Notice: please submit the form by Dec 3": "data_request",
        "#notice office closed on Friday": "notice",
        "【通知】附件是第四季度统计表，请填报": "data_request",
        "/urgent #通知 今晚十点前上报受灾情况": "data_request",
    }
    assert notices["/urgent #通知 今晚十点前上报受灾情况"].urgent
    assert notices["通知：请于11月30日前报送台账"].deadline_at is not None
    assert notices["Notice: please submit the form by Dec 3"].deadline_at is not None


async def test_a_notice_is_charged_to_its_senders_department_else_the_groups(harness: Harness) -> None:
    await join(harness)
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.private(SUPERVISOR, "/dept add 卫健委")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await harness.private(SUPERVISOR, f"/grant {MEMBER} contact 卫健委")
    await harness.send(harness.updates.message(GROUP, MEMBER, "#通知 卫健委的通知"))
    await harness.send(harness.updates.message(GROUP, ADMIN, "#通知 社区自己的通知"))
    await harness.command(GROUP, MEMBER, "/notice 卫健委用命令发的通知")
    async with harness.session() as session:
        names = dict((await session.execute(select(Department.id, Department.name))).all())
    departments = {text: names.get(notice.department_id) for text, notice in (await stored(harness)).items()}
    assert departments == {
        "#通知 卫健委的通知": "卫健委",
        "#通知 社区自己的通知": "民政局",
        "卫健委用命令发的通知": "卫健委",
    }
    # (MEMBER sent them: their own notices are never unread to them, so another member looks.)
    await harness.send(harness.updates.message(GROUP, STRANGER, "大家好"))  # a member Jianfu has seen
    await harness.private(STRANGER, "/start")
    await harness.private(STRANGER, "/inbox 卫健委")
    assert "卫健委的通知" in harness.last_text(STRANGER) and "社区自己的通知" not in harness.last_text(STRANGER)


async def test_reads_by_every_path_count_each_person_once(harness: Harness) -> None:
    await join(harness)
    await harness.private(MEMBER, "/start")
    await harness.send(harness.updates.message(GROUP, MEMBER, "大家好"))  # a known member
    await harness.command(GROUP, ADMIN, "/notice 周六上午停水，请提前储水")
    tracked = harness.fake.sent(GROUP)[-1]
    read_button = tracked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    # The member reads it every way there is: button, reaction, a removed ack, the inbox.
    await harness.send(harness.updates.callback(MEMBER, GROUP, tracked["message_id"], read_button))
    await harness.send(harness.updates.reaction(GROUP, tracked["message_id"], MEMBER, new=("👍",)))
    await harness.send(harness.updates.message(GROUP, MEMBER, "收到", reply_to=tracked["message_id"]))
    await harness.private(MEMBER, "/inbox all")
    assert "✅" in harness.last_text(MEMBER)
    # Others read it one way each.
    await harness.send(harness.updates.reaction(GROUP, tracked["message_id"], STRANGER, new=("🙏",)))
    ack = harness.updates.message(GROUP, ENGLISH, "received", reply_to=tracked["message_id"])
    await harness.send(ack)
    assert harness.fake.is_deleted(GROUP, ack.message.message_id)
    async with harness.session() as session:
        rows = (
            await session.execute(select(Read.person_id, Read.via).where(Read.message_id == tracked["message_id"]))
        ).all()
    assert sorted(rows) == sorted([(MEMBER, "button"), (STRANGER, "reaction"), (ENGLISH, "ack")])
    harness.clock.advance(timedelta(seconds=10))
    await harness.send(harness.updates.reaction(GROUP, tracked["message_id"], ADMIN, new=("👍",)))
    assert "已读 4/4" in harness.fake.message(GROUP, tracked["message_id"])["text"]


async def test_deadline_reminders_skip_the_sender_and_members_who_never_started_the_bot(harness: Harness) -> None:
    await join(harness)
    for person in (MEMBER, ADMIN):
        await harness.private(person, "/start")
    for person in (MEMBER, STRANGER, ENGLISH):
        await harness.send(harness.updates.message(GROUP, person, "在"))
    notice = harness.updates.message(GROUP, ADMIN, "【通知】11月25日17:00前报送台账")
    await harness.send(notice)
    sender_messages = len(harness.texts(ADMIN))
    harness.clock.advance(timedelta(days=1, hours=8))  # 11-24 17:00 local, 24 hours before
    await harness.sweep()
    assert "截止提醒" in harness.last_text(MEMBER)
    assert len(harness.texts(ADMIN)) == sender_messages  # not reminded of their own notice
    private_chats = {int(call["chat_id"]) for call in harness.fake.calls_to("sendMessage") if int(call["chat_id"]) > 0}
    assert STRANGER not in private_chats and ENGLISH not in private_chats
    # Nor listed as not having read it.
    await harness.command(GROUP, ADMIN, "/readers", reply_to=notice.message.message_id)
    unread_line = next(line for line in harness.last_text(ADMIN).splitlines() if line.startswith("未读"))
    assert "李管理" not in unread_line and "张三" in unread_line
