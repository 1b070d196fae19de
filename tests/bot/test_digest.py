"""The weekly digest end to end: who gets what, once; late, restarted, replicated; 403 and 429."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from bot import cli
from bot.jobs.digest import SEND_TASK, plan_due_digest
from bot.jobs.sweep import run_due_tasks
from bot.testing.fake import BAD_GATEWAY, TIMEOUT, too_many_requests
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Chat, Department, Event, Person, Task
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness

ALL_RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)
CONTACT_CHAT = -1009990001
DEMAND = "【通知】请各网格于周五前报送独居老人台账，收到请回复。"
PNG = b"\x89PNG\r\n\x1a\n"


async def busy_week(harness: Harness) -> None:
    """In week 2026-W48: a registered group where a notice demands acks and a member acks."""
    for person in (SUPERVISOR, ADMIN, MEMBER):
        await harness.private(person, "/start")
    await harness.private(SUPERVISOR, "/dept add 民政局 code MZ")
    harness.fake.add_group(CONTACT_CHAT, "民政局联络群", creator_id=SUPERVISOR)
    await harness.private(SUPERVISOR, f"/dept contact 民政局 {CONTACT_CHAT}")
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await harness.command(GROUP, ADMIN, "/set digest on")
    notice = harness.updates.message(GROUP, ADMIN, DEMAND)
    await harness.send(notice)
    await harness.send(harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id))


async def next_monday(harness: Harness) -> None:
    """Monday 30 November 09:00 in Shanghai: the digest of W48 is due. The week's other due work
    (deadline reminders, expiring messages) is done first, so it is not mistaken for the digest's."""
    harness.clock.advance(timedelta(days=7))
    while await harness.sweep():
        pass
    harness.fake.reset_calls()


async def deliver(harness: Harness) -> None:
    assert await plan_due_digest(harness.deps) is not None
    await harness.sweep()  # plans one delivery per recipient
    await harness.sweep()  # delivers


def photos(harness: Harness, chat_id: int) -> list[dict]:
    return [call for call in harness.fake.calls_to("sendPhoto") if int(call["chat_id"]) == chat_id]


def digests(harness: Harness, chat_id: int, marker: str = "减负周报") -> list[str]:
    return [text for text in harness.texts(chat_id) if marker in text]


async def deliveries(harness: Harness) -> dict[str, dict]:
    async with harness.session() as session:
        tasks = await session.scalars(select(Task).where(Task.kind == SEND_TASK))
        return {task.key: task.payload | {"state": task.state} for task in tasks}


async def test_every_recipient_gets_its_own_digest_once(harness: Harness) -> None:
    await busy_week(harness)
    await next_monday(harness)
    await deliver(harness)

    [scoreboard] = digests(harness, SUPERVISOR)
    assert "2026-W48" in scoreboard and "11-23 至 11-29" in scoreboard
    assert "1. 民政局 — 负担指数 4（+4）：数据报送 1、要求回复收到 1" in scoreboard  # the top three
    assert "要求回复“收到”：1（+1）" in scoreboard and "删除的“收到”回复：1（+1）" in scoreboard
    assert "补发" not in scoreboard
    [photo] = photos(harness, SUPERVISOR)
    assert "2026-W48" in photo["caption"]
    [(method, _chat, _name, png)] = harness.fake.uploads
    assert method == "sendPhoto" and png.startswith(PNG)

    [card] = digests(harness, CONTACT_CHAT)
    assert "民政局 · 减负周报 2026-W48" in card and "在 1 个部门中排名第 1" in card
    [summary] = [text for text in harness.texts(GROUP) if "本群一周小结" in text]
    assert "数据报送要求：1" in summary and "删除的“收到”回复：1" in summary
    # ADMIN wrote the notice and MEMBER read it by acking: neither has anything unread.
    assert not any("尚未标记已读" in text for text in harness.texts(ADMIN))
    assert not any("每周提醒" in text for text in harness.texts(MEMBER))
    outcomes = {key: payload["outcome"] for key, payload in (await deliveries(harness)).items()}
    assert outcomes[f"digest:2026-W48:person:{MEMBER}"] == "nothing to send"
    assert outcomes[f"digest:2026-W48:supervisor:{SUPERVISOR}"] == "delivered"

    # Planning again, sweeping again: nothing more.
    assert await plan_due_digest(harness.deps) is None
    assert await harness.sweep() == 0
    assert len(digests(harness, SUPERVISOR)) == 1 and len(photos(harness, SUPERVISOR)) == 1


async def test_a_restart_mid_way_delivers_the_rest_once(harness: Harness) -> None:
    await busy_week(harness)
    await next_monday(harness)
    await plan_due_digest(harness.deps)
    await harness.sweep()  # planned; then this instance stops before delivering
    async with harness.replica() as (deps, restarted):
        assert await plan_due_digest(deps) is None  # the same week is not planned twice
        assert await run_due_tasks(deps, restarted.bot) >= 4
        assert await run_due_tasks(deps, restarted.bot) == 0
    assert len(digests(harness, SUPERVISOR)) == 1 and len(digests(harness, CONTACT_CHAT)) == 1


async def test_two_replicas_send_each_digest_once(harness: Harness) -> None:
    await busy_week(harness)
    await next_monday(harness)
    async with harness.replica() as (deps, second):
        planned = await asyncio.gather(plan_due_digest(harness.deps), plan_due_digest(deps))
        assert sorted(str(week) for week in planned if week) == ["2026-W48"]
        for _ in range(3):
            await asyncio.gather(harness.sweep(), run_due_tasks(deps, second.bot))
    assert len(digests(harness, SUPERVISOR)) == 1 and len(photos(harness, SUPERVISOR)) == 1
    assert len(digests(harness, CONTACT_CHAT)) == 1
    assert len([text for text in harness.texts(GROUP) if "本群一周小结" in text]) == 1


async def test_a_monday_missed_while_down_goes_out_at_the_next_start_marked_late(harness: Harness) -> None:
    await busy_week(harness)
    harness.clock.advance(timedelta(days=9))  # Wednesday 2 December: nobody planned Monday's
    async with harness.replica() as (deps, restarted):
        assert str(await plan_due_digest(deps)) == "2026-W48"
        await run_due_tasks(deps, restarted.bot)
        await run_due_tasks(deps, restarted.bot)
    [scoreboard] = digests(harness, SUPERVISOR)
    assert "补发：原定 11-30 09:00 发送" in scoreboard
    assert "补发" in photos(harness, SUPERVISOR)[0]["caption"]


async def test_a_digest_superseded_by_the_next_is_not_sent(harness: Harness) -> None:
    await busy_week(harness)
    await next_monday(harness)
    harness.fake.fail_next("sendPhoto", BAD_GATEWAY, times=50)
    await deliver(harness)
    assert digests(harness, SUPERVISOR) == []
    harness.clock.advance(timedelta(days=7))
    await harness.sweep()
    payload = (await deliveries(harness))[f"digest:2026-W48:supervisor:{SUPERVISOR}"]
    assert (payload["state"], payload["outcome"]) == ("done", "superseded")
    assert digests(harness, SUPERVISOR) == []


async def test_a_person_who_blocked_the_bot_is_recorded_and_skipped(harness: Harness) -> None:
    await busy_week(harness)
    await harness.private(ENGLISH, "/start")
    await harness.private(SUPERVISOR, f"/grant {ENGLISH}")
    # A notice ADMIN has not read (their own would not count): their personal digest has content.
    await harness.send(harness.updates.message(GROUP, MEMBER, "#通知 周四下午网格会议"))
    await next_monday(harness)
    harness.fake.block_bot(ADMIN)
    await deliver(harness)
    outcomes = {key: payload["outcome"] for key, payload in (await deliveries(harness)).items()}
    assert outcomes[f"digest:2026-W48:person:{ADMIN}"] == "unreachable"
    async with harness.session() as session:
        assert (await session.get(Person, ADMIN)).has_private_chat is False
    # The others got theirs, in their own language.
    assert digests(harness, SUPERVISOR)
    [english] = digests(harness, ENGLISH, "Burden digest")
    assert "The department adding the most burden" in english and "民政局" in english
    # Next week the blocked person is not even planned.
    harness.clock.advance(timedelta(days=7))
    await deliver(harness)
    assert f"digest:2026-W49:person:{ADMIN}" not in await deliveries(harness)


async def test_retry_later_resumes_without_repeating_what_was_sent(harness: Harness) -> None:
    await busy_week(harness)
    await next_monday(harness)
    harness.fake.fail_next("sendMessage", too_many_requests(5), chat_id=SUPERVISOR)
    harness.fake.fail_next("sendMessage", BAD_GATEWAY, chat_id=CONTACT_CHAT)
    await deliver(harness)
    assert len(photos(harness, SUPERVISOR)) == 1 and digests(harness, SUPERVISOR) == []
    assert digests(harness, CONTACT_CHAT) == []
    # The other recipients were not held up.
    assert [text for text in harness.texts(GROUP) if "本群一周小结" in text]
    harness.clock.advance(timedelta(seconds=31))
    assert await harness.sweep() == 2
    assert len(photos(harness, SUPERVISOR)) == 1 and len(digests(harness, SUPERVISOR)) == 1
    assert len(digests(harness, CONTACT_CHAT)) == 1
    # Later recipients of the same chart get it by file id, not a second upload.
    assert len(harness.fake.uploads) == 1
    outcomes = {key: payload["outcome"] for key, payload in (await deliveries(harness)).items()}
    assert outcomes[f"digest:2026-W48:supervisor:{SUPERVISOR}"] == "delivered"


async def test_a_digest_whose_send_timed_out_is_not_sent_again(harness: Harness) -> None:
    """After a timeout Telegram may have delivered it: a supervisor never reads the same digest twice."""
    await busy_week(harness)
    await next_monday(harness)
    harness.fake.fail_next("sendMessage", TIMEOUT, chat_id=CONTACT_CHAT)
    await deliver(harness)
    for _ in range(3):
        harness.clock.advance(timedelta(hours=1))
        await harness.sweep()
    assert digests(harness, CONTACT_CHAT) == []
    outcomes = {key: payload["outcome"] for key, payload in (await deliveries(harness)).items()}
    [contact] = [key for key in outcomes if ":department:" in key]
    assert outcomes[contact] == "uncertain"


async def test_a_supervisors_group_replaces_private_scoreboards(harness: Harness) -> None:
    from tests.bot.conftest import make_settings

    await busy_week(harness)
    board = -1009990002
    harness.fake.add_group(board, "减负办", creator_id=SUPERVISOR)
    await next_monday(harness)
    settings = make_settings(digest={"supervisors_chat_id": board, "personal": False, "departments": False})
    harness.deps.settings = settings
    await deliver(harness)
    assert digests(harness, board) and photos(harness, board)
    assert digests(harness, SUPERVISOR) == [] and digests(harness, CONTACT_CHAT) == []
    assert not any("每周提醒" in text for text in harness.texts(ADMIN))


async def test_digest_command_previews_for_supervisors_only(harness: Harness) -> None:
    await busy_week(harness)
    await harness.private(SUPERVISOR, "/digest")
    last_week = harness.last_text(SUPERVISOR)
    assert "2026-W47" in last_week and "预览" in last_week and "本周没有部门增加负担" in last_week
    assert photos(harness, SUPERVISOR) == []  # nobody added burden in W47: no chart
    harness.clock.advance(timedelta(hours=2))
    await harness.private(SUPERVISOR, "/digest this")
    assert "截至 11-23 11:00" in harness.last_text(SUPERVISOR) and "1. 民政局" in harness.last_text(SUPERVISOR)
    assert len(photos(harness, SUPERVISOR)) == 1
    await harness.private(SUPERVISOR, "/digest 2026-W99")
    assert "看不懂周次" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, "/digest 2026-W50")
    assert "还没有开始" in harness.last_text(SUPERVISOR)
    await harness.private(MEMBER, "/digest")
    assert "只有督导" in harness.last_text(MEMBER)
    await harness.command(GROUP, SUPERVISOR, "/digest")
    assert "私聊" in harness.last_text(GROUP)
    # A preview is not a delivery: the Monday digest still goes out.
    assert await deliveries(harness) == {}


async def test_set_digest_on_and_off(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))
    await harness.command(GROUP, MEMBER, "/set digest on")
    assert "只有本群管理员或督导" in harness.last_text(GROUP)
    await harness.command(GROUP, ADMIN, "/set digest sometimes")
    assert "/set digest on|off" in harness.last_text(GROUP)
    await harness.command(GROUP, ADMIN, "/set 周报 开启")
    assert "每周会收到" in harness.last_text(GROUP)
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).settings["digest"] == "on"
    await harness.command(GROUP, ADMIN, "/set digest off")
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).settings["digest"] == "off"
    await harness.command(GROUP, ADMIN, "/set received record")
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).settings == {"digest": "off", "received": "record"}


async def test_a_quiet_group_gets_no_summary_and_a_kicked_one_is_marked(harness: Harness) -> None:
    await busy_week(harness)
    quiet = -1009990003
    harness.fake.add_group(quiet, "安静的群", creator_id=ADMIN, admins=[STRANGER])
    await harness.send(harness.updates.my_chat_member(quiet, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))
    await harness.command(quiet, ADMIN, "/set digest on")
    await next_monday(harness)
    harness.fake.remove_bot(GROUP)
    await deliver(harness)
    assert not [text for text in harness.texts(quiet) if "本群一周小结" in text]
    outcomes = {key: payload["outcome"] for key, payload in (await deliveries(harness)).items()}
    assert outcomes[f"digest:2026-W48:group:{quiet}"] == "nothing to send"
    assert outcomes[f"digest:2026-W48:group:{GROUP}"] == "unreachable"
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).bot_status == "kicked"


async def seed_past_week(url: str) -> None:
    """A department with ack demands in 2024-W10 (4 to 10 March 2024), on a migrated database."""
    db = Database.from_url(url)
    await upgrade(db.engine)
    moment = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
    async with db.engine.begin() as connection:
        await connection.execute(
            insert(Department),
            [{"id": 1, "name": "Civil <Affairs>", "code": "CA", "internal_units": 1, "created_at": moment}],
        )
        await connection.execute(
            insert(Event),
            [{"kind": "ack_demand", "day": moment.date(), "department_id": 1, "chat_id": -1, "at": moment}] * 3,
        )
    await db.dispose()


def test_jianfu_digest_renders_a_week_and_its_chart(tmp_path: Path, capsys) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jianfu.db'}"
    asyncio.run(seed_past_week(url))
    config = tmp_path / "bot.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    chart_file = tmp_path / "chart.png"
    assert (
        cli.main(
            ["--config", str(config), "digest", "--week", "2024-W10", "--out", str(chart_file), "--language", "en"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Burden digest · 2024-W10 (03-04 to 03-10)" in out
    assert "1. Civil <Affairs> — burden 6 (+6): ack demands 3" in out  # terminal text: unescaped, no tags
    assert chart_file.read_bytes().startswith(PNG)


def test_jianfu_digest_explains_bad_input_and_a_missing_database(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "none.db"}"\n', encoding="utf-8")
    assert cli.main(["--config", str(config), "digest", "--week", "W47"]) == 2
    assert "write a week like 2026-W47" in capsys.readouterr().err
    assert cli.main(["--config", str(config), "digest"]) == 2
    assert "jianfu db upgrade" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
