"""Conversation basics and privileged commands, driven through the application."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import AuditEntry, Chat, Department, Person, RoleGrant
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness


async def count(harness: Harness, model) -> int:
    async with harness.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def audit_actions(harness: Harness) -> list[str]:
    async with harness.session() as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def add_departments(harness: Harness, *names: str) -> None:
    for name in names:
        await harness.private(SUPERVISOR, f"/dept add {name}")


# /start /help /lang ---------------------------------------------------------------------------


async def test_start_in_private_welcomes_records_the_private_chat_and_shows_the_id(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    welcome, whoami = harness.texts(MEMBER)
    assert "减负助手" in welcome
    assert str(MEMBER) in whoami
    async with harness.session() as session:
        person = await session.get(Person, MEMBER)
    assert person.has_private_chat is True and person.display_name == "张三"


async def test_start_speaks_english_to_an_english_telegram_user(harness: Harness) -> None:
    await harness.private(ENGLISH, "/start")
    assert "Hello, I am Jianfu" in harness.texts(ENGLISH)[0]


async def test_start_in_a_group_answers_briefly_and_the_answer_expires(harness: Harness) -> None:
    await harness.command(GROUP, MEMBER, "/start@jianfu_bot")
    [answer] = harness.fake.sent(GROUP)
    assert "/help" in answer["text"]
    from datetime import timedelta

    harness.clock.advance(timedelta(minutes=10))
    await harness.sweep()
    assert harness.fake.is_deleted(GROUP, answer["message_id"])


async def test_help_shows_each_person_what_they_may_use(harness: Harness) -> None:
    await harness.private(MEMBER, "/help")
    await harness.private(SUPERVISOR, "/help")
    member_help, supervisor_help = harness.last_text(MEMBER), harness.last_text(SUPERVISOR)
    assert "/lang" in member_help and "/dept" not in member_help and "/register" not in member_help
    assert "/dept add" in supervisor_help and "/grant" in supervisor_help
    await harness.command(GROUP, ADMIN, "/help")
    assert "/register" in harness.last_text(GROUP) and "/dept" not in harness.last_text(GROUP)


async def test_lang_in_private_switches_the_persons_language(harness: Harness) -> None:
    await harness.private(MEMBER, "/lang en")
    assert harness.last_text(MEMBER) == "Done: I will speak English with you."
    await harness.private(MEMBER, "/lang")
    assert harness.last_text(MEMBER).startswith("Current language: English")
    await harness.private(MEMBER, "/lang klingon")
    assert "klingon" in harness.last_text(MEMBER) and "zh-CN" in harness.last_text(MEMBER)
    await harness.private(MEMBER, "/lang 中文")
    assert harness.last_text(MEMBER) == "好的，以后用中文和你交流。"


async def test_group_language_is_for_admins_and_overrides_personal_languages(harness: Harness) -> None:
    await harness.command(GROUP, MEMBER, "/lang en")
    assert "只有本群管理员或督导可以使用" in harness.last_text(GROUP)
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).language is None

    await harness.command(GROUP, ADMIN, "/lang en")
    assert harness.last_text(GROUP) == "This group's language is now: English."
    await harness.command(GROUP, MEMBER, "/start")
    assert "Jianfu is at work" in harness.last_text(GROUP)
    await harness.command(GROUP, ADMIN, "/lang auto")
    assert "每人按自己的设置" in harness.last_text(GROUP)
    assert await audit_actions(harness) == ["chat.language", "chat.language"]


# /dept ----------------------------------------------------------------------------------------


async def test_supervisor_manages_departments_and_every_change_is_audited(harness: Harness) -> None:
    await harness.private(SUPERVISOR, "/dept add 民政局 units 12 code MZ")
    assert harness.last_text(SUPERVISOR) == "已添加部门「民政局」（简称 MZ，内设机构 12 个）。"
    await harness.private(SUPERVISOR, "/dept add 民政局")
    assert "已存在" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, "/dept rename mz 民政办")
    assert harness.last_text(SUPERVISOR) == "已将「民政局」改名为「民政办」。"
    await harness.private(SUPERVISOR, "/dept units 民政办 3")
    await harness.private(SUPERVISOR, f"/dept contact 民政办 {GROUP}")
    await harness.private(SUPERVISOR, "/dept list")
    listing = harness.last_text(SUPERVISOR)
    assert "民政办（MZ）— 内设机构 3 · 工作群 0（配额 —）" in listing and str(GROUP) in listing
    await harness.private(SUPERVISOR, "/dept remove 民政办")
    assert harness.last_text(SUPERVISOR) == "已删除部门「民政办」。"
    assert await count(harness, Department) == 0
    assert await audit_actions(harness) == ["dept.add", "dept.rename", "dept.units", "dept.contact", "dept.remove"]


async def test_dept_refuses_strangers_and_changes_nothing(harness: Harness) -> None:
    await harness.private(STRANGER, "/dept add 民政局")
    assert harness.last_text(STRANGER) == "抱歉，这个命令只有督导可以使用。"
    await harness.private(ENGLISH, "/dept add Civil")
    assert harness.last_text(ENGLISH) == "Sorry, only supervisors can use this command."
    assert await count(harness, Department) == 0
    assert await audit_actions(harness) == []


async def test_dept_bad_input_gets_a_clear_answer(harness: Harness) -> None:
    cases = {
        "/dept": "用法",
        "/dept fly 民政局": "用法",
        "/dept add 民政局 units lots": "不是有效的数字",
        '/dept add "民政局': "引号没有配对",
        "/dept add 12345": "不能只有数字",
        "/dept add " + "长" * 101: "太长",
        "/dept rename 不存在 新名": "没有找到部门「不存在」",
        "/dept contact 民政局 abc": "不是群 ID",
    }
    for text, expected in cases.items():
        await harness.private(SUPERVISOR, text)
        assert expected in harness.last_text(SUPERVISOR), text
    assert await count(harness, Department) == 0


async def test_dept_in_a_group_points_to_private_chat(harness: Harness) -> None:
    await harness.command(GROUP, SUPERVISOR, "/dept add 民政局")
    assert harness.last_text(GROUP) == "这个命令请在与我的私聊中使用。"
    assert await count(harness, Department) == 0


async def test_dept_remove_is_refused_while_groups_point_at_it(harness: Harness) -> None:
    await add_departments(harness, "民政局")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await harness.private(SUPERVISOR, "/dept remove 民政局")
    assert "还有 1 个工作群" in harness.last_text(SUPERVISOR)
    assert await count(harness, Department) == 1


# /register ------------------------------------------------------------------------------------


async def group_department(harness: Harness) -> int | None:
    async with harness.session() as session:
        return (await session.get(Chat, GROUP)).department_id


async def test_register_exact_match_attaches_the_group(harness: Harness) -> None:
    await add_departments(harness, "民政局", "卫健委")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    assert harness.last_text(GROUP) == "本群已登记到「民政局」。"
    assert await group_department(harness) is not None
    await harness.command(GROUP, ADMIN, "/register 民政局")
    assert harness.last_text(GROUP) == "本群已经登记在「民政局」下。"
    assert (await audit_actions(harness)).count("chat.register") == 1


async def test_register_ambiguous_offers_buttons_and_only_admins_may_press(harness: Harness) -> None:
    await add_departments(harness, "民政局", "民族宗教事务局", "卫健委")
    await harness.command(GROUP, ADMIN, "/register 民")
    question = harness.fake.sent(GROUP)[-1]
    buttons = [row[0] for row in question["reply_markup"]["inline_keyboard"]]
    assert [b["text"] for b in buttons] == ["民政局", "民族宗教事务局", "取消"]

    await harness.send(harness.updates.callback(MEMBER, GROUP, question["message_id"], buttons[0]["callback_data"]))
    [answer] = harness.fake.calls_to("answerCallbackQuery")
    assert answer["show_alert"] is True and "只有本群管理员或督导" in answer["text"]
    assert await group_department(harness) is None

    await harness.send(harness.updates.callback(ADMIN, GROUP, question["message_id"], buttons[0]["callback_data"]))
    assert harness.fake.message(GROUP, question["message_id"])["text"] == "本群已登记到「民政局」。"
    assert await group_department(harness) is not None
    assert (await audit_actions(harness)).count("chat.register") == 1


async def test_register_cancel_and_unknown_and_empty_registry(harness: Harness) -> None:
    await harness.command(GROUP, ADMIN, "/register 民政局")
    assert "还没有任何部门" in harness.last_text(GROUP)
    await add_departments(harness, "民政局", "民族宗教事务局")
    await harness.command(GROUP, ADMIN, "/register 交通运输局")
    assert "没有找到部门「交通运输局」" in harness.last_text(GROUP) and "民政局" in harness.last_text(GROUP)
    await harness.command(GROUP, ADMIN, "/register")
    assert harness.last_text(GROUP) == "用法：/register 部门名称或简称"
    await harness.command(GROUP, ADMIN, "/register 民")
    question = harness.fake.sent(GROUP)[-1]
    await harness.send(harness.updates.callback(ADMIN, GROUP, question["message_id"], "reg:cancel"))
    assert harness.fake.message(GROUP, question["message_id"])["text"] == "已取消登记。"
    assert await group_department(harness) is None


async def test_register_is_refused_to_members_and_in_private(harness: Harness) -> None:
    await add_departments(harness, "民政局")
    await harness.command(GROUP, MEMBER, "/register 民政局")
    assert harness.last_text(GROUP) == "抱歉，这个命令只有本群管理员或督导可以使用。"
    await harness.private(ADMIN, "/register 民政局")
    assert harness.last_text(ADMIN) == "这个命令请在工作群里使用。"
    assert await group_department(harness) is None


async def test_admin_promoted_by_chat_member_update_may_register_at_once(harness: Harness) -> None:
    await add_departments(harness, "民政局")
    await harness.command(GROUP, MEMBER, "/register 民政局")  # caches the admins: only ADMIN
    await harness.send(harness.updates.chat_member(GROUP, MEMBER, old="member", new="administrator"))
    await harness.command(GROUP, MEMBER, "/register 民政局")
    assert harness.last_text(GROUP) == "本群已登记到「民政局」。"
    assert len(harness.fake.calls_to("getChatAdministrators")) == 1


async def test_supervisor_may_register_any_group(harness: Harness) -> None:
    await add_departments(harness, "民政局")
    await harness.command(GROUP, SUPERVISOR, "/register 民政局")
    assert harness.last_text(GROUP) == "本群已登记到「民政局」。"


# /groups --------------------------------------------------------------------------------------


async def test_groups_lists_every_group_for_supervisors_only(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    await add_departments(harness, "民政局")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await harness.private(SUPERVISOR, "/groups")
    listing = harness.last_text(SUPERVISOR)
    assert "工作群（1）" in listing
    assert "朝阳社区工作群" in listing and "民政局 · 常设群 · 进行中 · 5 人 · 最近活跃 2026-11-23 09:00" in listing
    await harness.private(STRANGER, "/groups")
    assert harness.last_text(STRANGER) == "抱歉，这个命令只有督导可以使用。"


async def test_groups_splits_a_long_listing_under_telegrams_limit(harness: Harness) -> None:
    async with harness.session() as session:
        from storage.repositories.chats import ChatRepository

        for number in range(60):
            await ChatRepository(session).ensure(
                -1000 - number, f"第{number}网格工作群" + "很长的名字" * 5, "supergroup", harness.clock()
            )
    await harness.private(SUPERVISOR, "/groups")
    chunks = harness.texts(SUPERVISOR)
    assert len(chunks) >= 2
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert sum(chunk.count("网格工作群") for chunk in chunks) == 60


# /grant /revoke -------------------------------------------------------------------------------


async def grants(harness: Harness) -> list[tuple[int, str]]:
    async with harness.session() as session:
        rows = await session.execute(select(RoleGrant.person_id, RoleGrant.role).order_by(RoleGrant.id))
        return [tuple(row) for row in rows.all()]


async def test_grant_makes_a_supervisor_who_can_then_manage_departments(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await harness.private(SUPERVISOR, f"/grant {MEMBER}")
    assert harness.last_text(SUPERVISOR) == f"已授予 张三 ({MEMBER}) 督导权限。"
    await harness.private(MEMBER, "/dept add 民政局")
    assert "已添加部门" in harness.last_text(MEMBER)
    await harness.private(SUPERVISOR, f"/grant {MEMBER} supervisor")
    assert "已经拥有" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, f"/revoke {MEMBER}")
    assert harness.last_text(SUPERVISOR) == f"已撤销 张三 ({MEMBER}) 的该角色。"
    await harness.private(MEMBER, "/dept list")
    assert harness.last_text(MEMBER) == "抱歉，这个命令只有督导可以使用。"
    assert [a for a in await audit_actions(harness) if a.startswith("role.")] == ["role.grant", "role.revoke"]


async def test_grant_by_reply_in_a_group_and_contact_roles(harness: Harness) -> None:
    await add_departments(harness, "民政局")
    said = harness.updates.message(GROUP, MEMBER, "我是张三")
    await harness.send(said)
    await harness.command(GROUP, SUPERVISOR, "/grant contact 民政局", reply_to=said.message.message_id)
    assert harness.last_text(GROUP) == f"已将 张三 ({MEMBER}) 设为「民政局」的联络人。"
    assert await grants(harness) == [(MEMBER, "contact")]
    await harness.private(SUPERVISOR, f"/grant {MEMBER} contact 交通局")
    assert "没有找到部门「交通局」" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, f"/revoke {MEMBER} contact 民政局")
    assert await grants(harness) == []


async def test_revoke_protects_configured_supervisors_and_oneself(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await harness.private(SUPERVISOR, f"/grant {MEMBER}")
    await harness.private(MEMBER, f"/revoke {SUPERVISOR}")
    assert "bot.toml" in harness.last_text(MEMBER)
    await harness.private(MEMBER, f"/revoke {MEMBER}")
    assert "不能撤销你自己" in harness.last_text(MEMBER)
    assert await grants(harness) == [(MEMBER, "supervisor")]


async def test_grant_refuses_non_supervisors_and_bad_input(harness: Harness) -> None:
    await harness.private(ADMIN, f"/grant {ADMIN}")
    assert harness.last_text(ADMIN) == "抱歉，这个命令只有督导可以使用。"
    await harness.private(SUPERVISOR, "/grant @zhangsan")
    assert "用法" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, f"/grant {MEMBER} emperor")
    assert "用法" in harness.last_text(SUPERVISOR)
    assert await grants(harness) == []


# fallback -------------------------------------------------------------------------------------


async def test_unknown_commands_and_non_text_in_private_get_a_pointer_to_help(harness: Harness) -> None:
    await harness.private(MEMBER, "/frobnicate")
    assert harness.last_text(MEMBER) == "我不认识这个命令。发送 /help 查看可用命令。"
    await harness.send(harness.updates.sticker(MEMBER, MEMBER, "👍"))
    assert harness.last_text(MEMBER) == "这里我只能读懂文字命令。发送 /help 查看可用命令。"


async def test_unknown_commands_in_groups_stay_unanswered(harness: Harness) -> None:
    await harness.command(GROUP, MEMBER, "/frobnicate")
    await harness.send(harness.updates.message(GROUP, MEMBER, "大家好"))
    assert harness.fake.sent(GROUP) == []
