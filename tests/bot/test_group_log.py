"""/log: a group's action log for its admins and supervisors; a member's own removed messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from policies.callbacks import LogView, encode
from storage.models import AuditEntry, Chat
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness
from tests.bot.test_received import ALL_RIGHTS, join, post

OTHER = -1001234500002


async def with_another_group(harness: Harness) -> None:
    """A second group, administered by ENGLISH (who has no say in GROUP)."""
    harness.fake.add_group(OTHER, "Riverside work group", creator_id=ENGLISH, members=[STRANGER])
    joined = harness.updates.my_chat_member(OTHER, ENGLISH, old="left", new="administrator", rights=ALL_RIGHTS)
    await harness.send(joined)


async def acks(harness: Harness, count: int, *, by: int = MEMBER, every: timedelta = timedelta(minutes=1)) -> None:
    """`count` removed acks, each under a notice of its own, `every` apart."""
    for number in range(count):
        notice = await post(harness, ADMIN, f"【通知】第{number}次报送台账")
        await post(harness, by, "收到", reply_to=notice)
        harness.clock.advance(every)


async def log(harness: Harness, user: int) -> dict:
    """Send /log privately; the bot's answer."""
    await harness.private(user, "/log")
    return harness.fake.sent(user)[-1]


def buttons(message: dict) -> dict[str, str]:
    """Label -> callback data of a message's buttons."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button.get("callback_data", "") for row in rows for button in row}


async def press(harness: Harness, user: int, message: dict, data: str) -> dict:
    """Press a button on the message; the message as it is afterwards."""
    await harness.send(harness.updates.callback(user, user, message["message_id"], data))
    return harness.fake.message(user, message["message_id"])


def last_answer(harness: Harness) -> dict:
    return harness.fake.calls_to("answerCallbackQuery")[-1]


async def open_group(harness: Harness, user: int, title: str = "朝阳社区工作群") -> dict:
    answer = await log(harness, user)
    return await press(harness, user, answer, buttons(answer)[title])


async def test_an_admin_reads_the_trail_newest_first_paged_with_this_weeks_counts(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await acks(harness, 3, every=timedelta(days=4))  # the first two fall out of the last 7 days
    await acks(harness, 9)
    shown = await open_group(harness, ADMIN)
    text = shown["text"]
    assert "共 14 条（第 1/2 页" in text  # 12 removals, the bot's role and its introduction
    assert "近 7 天按规则：received 10" in text
    lines = [line for line in text.split("\n") if " · received · 删除 · 完成 · 张三「收到」" in line]
    assert len(lines) == 10
    times = [line.split(" · ")[0] for line in lines]
    assert times == sorted(times, reverse=True)  # newest first
    assert "only ack words: 收到" in text
    later = await press(harness, ADMIN, shown, buttons(shown)["下一页 ›"])
    assert "第 2/2 页" in later["text"] and "bot_membership" in later["text"]
    back = await press(harness, ADMIN, later, buttons(later)["« 群列表"])
    assert "朝阳社区工作群" in buttons(back)


async def test_the_record_only_button_switches_the_rule_and_the_next_ack_stays(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await acks(harness, 1)
    shown = await open_group(harness, ADMIN)
    after = await press(harness, ADMIN, shown, buttons(shown)["把 received 改为仅记录"])
    assert "已把 received 改为仅记录" in last_answer(harness)["text"]
    assert "把 received 改为仅记录" not in buttons(after)  # nothing left to switch
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).settings["received"] == "record"
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "chat.set"))
        assert (audit.actor_id, audit.target) == (ADMIN, "received=record")
    notice = await post(harness, ADMIN, "【通知】周五前报送台账")
    ack = await post(harness, MEMBER, "收到", reply_to=notice)
    assert not harness.fake.is_deleted(GROUP, ack)


async def test_record_only_turns_rules_down_never_up(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.command(GROUP, ADMIN, "/set checkin off")
    await harness.private(ADMIN, "/start")  # so the reminder reaches the demand's sender
    await post(harness, ADMIN, "请大家10分钟内回复")  # an instant-reply demand: the formalism rule acts
    await acks(harness, 1)
    await harness.command(GROUP, ADMIN, "/set received off")
    shown = await open_group(harness, ADMIN)
    assert "把 received 改为仅记录" not in buttons(shown)  # off already does less than record
    await press(harness, ADMIN, shown, buttons(shown)["把 formalism 改为仅记录"])
    async with harness.session() as session:
        stored = (await session.get(Chat, GROUP)).settings
    assert stored["received"] == "off" and stored["checkin"] == "off"  # what was off stays off
    assert {stored[kind] for kind in ("photo_proof", "promotion", "instant_reply")} == {"record"}


async def test_the_record_only_button_is_refused_to_someone_who_is_not_an_admin(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await acks(harness, 1)
    shown = await open_group(harness, ADMIN)
    data = buttons(shown)["把 received 改为仅记录"]
    # The same button data, pressed by a member in their own chat (a forwarded or forged press).
    mine = await log(harness, MEMBER)
    after = await press(harness, MEMBER, mine, data)
    assert last_answer(harness)["show_alert"] is True and "只有该群的管理员或督导" in last_answer(harness)["text"]
    assert after["text"] == mine["text"]
    async with harness.session() as session:
        assert "received" not in ((await session.get(Chat, GROUP)).settings or {})


async def test_strangers_and_admins_of_other_groups_learn_nothing(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await with_another_group(harness)
    await acks(harness, 2)
    stranger = await log(harness, STRANGER)
    assert "没有可以给你看的记录" in stranger["text"] and buttons(stranger) == {}
    other_admin = await log(harness, ENGLISH)
    assert set(buttons(other_admin)) == {"Riverside work group", "My removed messages"}
    forged = encode(LogView("c", GROUP, 0))
    after = await press(harness, ENGLISH, other_admin, forged)
    assert last_answer(harness)["show_alert"] is True and "Only this group's admins" in last_answer(harness)["text"]
    assert after["text"] == other_admin["text"]
    seen = " ".join(harness.texts(ENGLISH) + harness.texts(STRANGER))
    assert "朝阳社区工作群" not in seen and "张三" not in seen


async def test_a_supervisor_may_choose_any_group(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await with_another_group(harness)
    await acks(harness, 1)
    answer = await log(harness, SUPERVISOR)
    assert {"朝阳社区工作群", "Riverside work group"} <= set(buttons(answer))
    shown = await press(harness, SUPERVISOR, answer, buttons(answer)["朝阳社区工作群"])
    assert "张三「收到」" in shown["text"]


async def test_a_member_sees_only_their_own_removed_messages(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await acks(harness, 2, by=MEMBER)
    await acks(harness, 1, by=STRANGER)
    mine = await log(harness, MEMBER)
    assert "你被移除的消息：共 2 条" in mine["text"]
    assert mine["text"].count("朝阳社区工作群「收到」") == 2
    assert "路人" not in mine["text"] and "bot_membership" not in mine["text"]


async def test_log_in_a_group_points_to_the_private_chat(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.command(GROUP, ADMIN, "/log")
    assert harness.last_text(GROUP) == "这个命令请在与我的私聊中使用。"


@pytest.mark.parametrize(
    "data", ["lv1:c:abc:0", "lv1:c:-1:99999999", "lr1:-1:digest", "lv1:x", "lv1:c:-1", "lg:c:-1:0"]
)
async def test_button_data_our_buttons_never_make_is_stale(harness: Harness, data: str) -> None:
    answer = await log(harness, SUPERVISOR)
    await press(harness, SUPERVISOR, answer, data)
    assert last_answer(harness)["text"] == "这个按钮已失效，请重新发送命令。"


async def test_help_names_log_for_members_and_for_admins(harness: Harness) -> None:
    line = "/log — 机器人的操作记录：你被删除的消息；群管理员和督导可查看本群的操作记录"
    await harness.private(MEMBER, "/help")
    assert line in harness.last_text(MEMBER)
    await harness.private(SUPERVISOR, "/help")
    assert line in harness.last_text(SUPERVISOR)


async def test_a_page_past_the_end_shows_the_last_page(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await acks(harness, 1)
    answer = await log(harness, ADMIN)
    shown = await press(harness, ADMIN, answer, encode(LogView("c", GROUP, 7)))
    assert "第 1/1 页" in shown["text"] and "张三「收到」" in shown["text"]
