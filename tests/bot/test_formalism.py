"""Formalism demands in groups: recognised, counted per department, the sender reminded privately, /set."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.jobs.digest import plan_due_digest
from storage.models import AuditEntry, Chat, Event
from tests.bot.conftest import ADMIN, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness
from tests.bot.test_received import ALL_RIGHTS, after_intro, join, kept_tasks, post

CHECKIN = "请大家每天早上8点前在群里打卡"


async def counted(harness: Harness) -> list[str]:
    async with harness.session() as session:
        kinds = await session.scalars(select(Event.kind).where(Event.kind.like("formalism%")).order_by(Event.kind))
        return list(kinds)


async def test_a_formalism_demand_is_counted_and_its_sender_reminded_privately_once(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.fake.sent(ADMIN))
    message = await post(harness, ADMIN, "从明天起，每天早上8点前在群里打卡，走访时拍照发群")
    [reminder] = harness.fake.sent(ADMIN)[before:]
    assert (
        "朝阳社区工作群" in reminder["text"]
        and "打卡、接龙报到" in reminder["text"]
        and "拍照、截图" in reminder["text"]
    )
    assert "整治形式主义为基层减负若干规定" in reminder["text"] and "reply_markup" not in reminder
    assert after_intro(harness) == []
    assert await counted(harness) == ["formalism_checkin", "formalism_photo_proof", "formalism_reminded"]
    # Edits neither count nor remind again, even one that adds a kind.
    await harness.send(
        harness.updates.edited(
            GROUP, message, "从明天起，每天早上8点前在群里打卡，走访时拍照发群，消息必须秒回", user_id=ADMIN
        )
    )
    assert len(harness.fake.sent(ADMIN)) == before + 1
    assert await counted(harness) == [
        "formalism_checkin",
        "formalism_instant_reply",
        "formalism_photo_proof",
        "formalism_reminded",
    ]


async def test_formalism_demands_count_against_the_department_in_the_digest(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await post(harness, ADMIN, "请大家帮忙给我们社区的作品投票，每天都可以投")
    await post(harness, MEMBER, "请各位随时待命，群消息必须秒回")
    async with harness.session() as session:
        query = select(Event.kind, Event.department_id).where(Event.kind.like("formalism_%"))
        rows = (await session.execute(query)).all()
    charged = {kind for kind, department in rows if department is not None}
    assert charged >= {"formalism_promotion", "formalism_instant_reply"}
    await harness.private(SUPERVISOR, "/digest this")
    scoreboard = "\n".join(harness.texts(SUPERVISOR)[-3:])
    assert "摊派转发、点赞、投票、下载：1" in scoreboard and "要求秒回或随时在线：1" in scoreboard


async def test_urgent_and_emergency_messages_and_questions_are_left_alone(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.fake.sent(ADMIN))
    await post(harness, ADMIN, "【紧急】今晚暴雨，各村值守人员每小时在群里报平安")
    await post(harness, ADMIN, "防汛期间，请各村每2小时在群里报一次平安")
    await post(harness, ADMIN, "系统打卡和群里打卡要同时做吗？")
    await post(harness, ADMIN, "我拍了几张照片，问题挺严重的，大家看看")
    assert await counted(harness) == [] and len(harness.fake.sent(ADMIN)) == before


async def test_an_unreachable_sender_gets_the_reminder_at_their_first_start(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await post(harness, STRANGER, CHECKIN)
    assert after_intro(harness) == []
    [kept] = await kept_tasks(harness)
    assert kept.payload["key"] == "formalism.reminder"
    assert "路人" in harness.last_text(ADMIN)
    await harness.private(STRANGER, "/start")
    assert "打卡、接龙报到" in harness.last_text(STRANGER) and "朝阳社区工作群" in harness.last_text(STRANGER)


async def test_group_admins_switch_each_rule(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await harness.command(GROUP, MEMBER, "/set checkin off")
    assert "只有本群管理员或督导" in harness.last_text(GROUP)
    await harness.command(GROUP, ADMIN, "/set 打卡 关闭")
    assert harness.last_text(GROUP) == "本群的“打卡报到”规则已改为：关闭"
    await harness.command(GROUP, ADMIN, "/set instant record")
    before = len(harness.fake.sent(ADMIN))
    await post(harness, ADMIN, CHECKIN)
    await post(harness, ADMIN, "群消息必须秒回")
    assert await counted(harness) == ["formalism_instant_reply"]  # counted, nobody reminded
    assert len(harness.fake.sent(ADMIN)) == before
    await harness.command(GROUP, ADMIN, "/set formalism on")
    await post(harness, ADMIN, "请大家每天晚上在群里报平安")
    assert "打卡、接龙报到" in harness.last_text(ADMIN)
    await harness.command(GROUP, ADMIN, "/set checkin maybe")
    assert "用法" in harness.last_text(GROUP)
    async with harness.session() as session:
        settings = (await session.get(Chat, GROUP)).settings
        query = select(AuditEntry.target).where(AuditEntry.action == "chat.set").order_by(AuditEntry.id)
        audited = list(await session.scalars(query))
    assert settings == {"checkin": "on", "photo_proof": "on", "promotion": "on", "instant_reply": "on"}
    assert audited == ["checkin=off", "instant_reply=record", "checkin=on,photo_proof=on,promotion=on,instant_reply=on"]


async def test_rules_lists_each_formalism_switch(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.command(GROUP, ADMIN, "/set 秒回 仅记录")
    await harness.command(GROUP, MEMBER, "/rules")
    text = harness.last_text(GROUP)
    assert "· 打卡报到：提醒发送者并计入周报（默认）" in text and "· 秒回在线：仅计入周报" in text


def test_bot_toml_sets_the_deployment_default_for_each_rule(harness: Harness) -> None:
    from bot.context import Deps
    from policies.formalism import Switch
    from tests.bot.conftest import make_settings

    deps = Deps.create(make_settings(formalism={"checkin": "off", "promotion": "record"}), db=harness.db)
    assert deps.received_rule.config.formalism == {
        "checkin": Switch.OFF,
        "photo_proof": Switch.ON,
        "promotion": Switch.RECORD,
        "instant_reply": Switch.ON,
    }


async def test_the_weekly_digest_carries_the_formalism_figures(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.private(SUPERVISOR, "/start")
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await post(harness, ADMIN, CHECKIN)
    harness.clock.advance(timedelta(days=7))
    await plan_due_digest(harness.deps)
    await harness.sweep()
    await harness.sweep()
    digest = "\n".join(harness.texts(SUPERVISOR))
    assert "要求打卡、接龙报到：1" in digest and "2×打卡" in digest
