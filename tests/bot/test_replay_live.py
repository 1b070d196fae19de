"""The same messages, once through the live bot and once as an export through `jianfu replay`: the
counts agree. Replay reads the live bot's database as its registry, so department figures (and the
saved-time estimate, which needs the groups' sizes) are compared too."""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.replay.command import ReplayOptions, run_async
from bot.replay.engine import FORMALISM_KINDS
from bot.report_data import week_window
from bot.testing.exports import ExportedChat, single_chat, write
from policies.digest import IsoWeek
from storage.models import Chat, Department, Event, Notice, Read
from storage.repositories.digest import DigestRepository
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness

GROUP_B = -1001234500002
WANG = 6001
GROUPS = {"A": GROUP, "B": GROUP_B}
NAMES = {ADMIN: "李管理", MEMBER: "张三", STRANGER: "路人", ENGLISH: "Alice Smith", WANG: "王芳"}
MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DAY = 24 * 60
REQUEST = "【通知】请各社区于11月30日前报送第四季度消防隐患排查表，收到请回复。"
ALL_RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)


@dataclass(frozen=True)
class Step:
    """One message: minutes after Monday 09:00, its group, sender and content; `reply_to` is the
    index of an earlier step; an edited message is sent as `text` and becomes `edited_to`."""

    minutes: int
    group: str
    sender: int
    text: str = ""
    reply_to: int | None = None
    kind: str = "text"
    edited_to: str | None = None


SCRIPT = [
    Step(0, "A", ADMIN, REQUEST),
    Step(1, "A", WANG, "收到！", reply_to=0),
    Step(2, "A", STRANGER, "👍", reply_to=0, kind="sticker"),
    Step(3, "A", ENGLISH, "received"),
    Step(4, "A", MEMBER, "好的"),
    Step(5, "A", STRANGER, "收到，不过表格第二页打不开？", reply_to=0),
    Step(6, "A", MEMBER, "张三收到", reply_to=0),
    Step(10, "B", ADMIN, REQUEST),
    Step(11, "B", MEMBER, "1", reply_to=7),
    Step(12, "B", STRANGER, "收到", reply_to=7),
    Step(20, "A", ADMIN, "明天谁能来值班？"),
    Step(21, "A", MEMBER, "1", reply_to=10),
    Step(30, "A", ADMIN, "【通知】停电安排见图，明天上午9:30前确认", kind="photo"),
    Step(31, "A", MEMBER, "收到", reply_to=12),
    Step(35, "A", MEMBER, "收到", reply_to=0, kind="document"),
    Step(40, "A", ENGLISH, "Please reply 'received' after reading the attached form."),
    Step(41, "A", MEMBER, "【通知】区里的通知：周六停水", kind="forward"),
    Step(50, "B", MEMBER, "明天开会", edited_to="#通知 明天下午3点在三楼开会"),
    Step(13 * 60 + 30, "B", ADMIN, "#通知 请各网格明天上午8点前上报积水点位"),
    Step(13 * 60 + 31, "B", STRANGER, "收到", reply_to=18),
    Step(DAY, "A", ADMIN, "【紧急】今晚8点前上报受灾情况，收到请回复"),
    Step(DAY + 1, "A", MEMBER, "收到", reply_to=20),
    Step(DAY + 2, "A", ADMIN, "请大家每天上午9点前在群里打卡报平安"),
    Step(DAY + 3, "B", ADMIN, "请各网格拍照上传到群里留痕"),
    Step(DAY + 3, "A", MEMBER, "请大家帮忙转发朋友圈并截图"),
    Step(DAY + 4, "B", ADMIN, "收到消息请10分钟内回复"),
    Step(DAY + 4, "A", ADMIN, "【紧急】防汛应急，请各网格拍照上传到群里"),  # exempt: an emergency
    Step(DAY + 5, "B", ADMIN, "/temp 防汛"),
    Step(DAY + 6, "B", ADMIN, "/done"),
    Step(4 * DAY + 60, "B", MEMBER, "还有人吗"),
    Step(5 * DAY + 60, "A", ADMIN, "通知：周日上午全员到岗"),
    Step(5 * DAY + 61, "A", STRANGER, "收到"),
]


# The live bot ------------------------------------------------------------------------------------


async def set_up_live(harness: Harness) -> None:
    harness.fake.add_user(WANG, "王芳", language_code="zh-hans")
    harness.fake.set_member(GROUP, WANG, "member")
    harness.fake.add_group(GROUP_B, "向阳社区工作群", creator_id=ADMIN, members=[MEMBER, STRANGER, ENGLISH, WANG])
    for chat in GROUPS.values():
        await harness.send(
            harness.updates.my_chat_member(chat, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS)
        )
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.private(SUPERVISOR, "/dept add 卫健委")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await harness.command(GROUP_B, ADMIN, "/register 卫健委")


async def drive_live(harness: Harness) -> None:
    """Each step at its time, after the due work (expiring replies, reminders, the close) has run."""
    sent: dict[int, int] = {}
    for index, step in enumerate(SCRIPT):
        harness.clock.set(MONDAY + timedelta(minutes=step.minutes))
        await harness.sweep()
        chat = GROUPS[step.group]
        if harness.fake.member_status(chat, harness.fake.bot_id) not in ("member", "administrator"):
            continue  # the bot closed the group and left: Telegram sends it nothing more
        update = live_update(harness, step, chat, sent.get(step.reply_to))
        await harness.send(update)
        sent[index] = update.effective_message.message_id
        if step.edited_to is not None:
            harness.clock.advance(timedelta(minutes=2))
            await harness.send(harness.updates.edited(chat, sent[index], step.edited_to, user_id=step.sender))


def live_update(harness: Harness, step: Step, chat: int, reply_to: int | None):
    updates = harness.updates
    if step.kind == "sticker":
        return updates.sticker(chat, step.sender, step.text, reply_to=reply_to)
    if step.kind == "photo":
        return updates.photo(chat, step.sender, caption=step.text, reply_to=reply_to)
    if step.kind == "document":
        return updates.document(chat, step.sender, caption=step.text, reply_to=reply_to)
    if step.kind == "forward":
        return updates.forwarded(chat, step.sender, step.text, author_id=ADMIN)
    return updates.message(chat, step.sender, step.text, reply_to=reply_to)


async def live_counts(harness: Harness) -> dict[str, object]:
    async with harness.session() as session:
        events = Counter(await session.scalars(select(Event.kind)))
        notices = list(await session.scalars(select(Notice)))
        ack_reads = len(list(await session.scalars(select(Read.person_id).where(Read.via == "ack"))))
        closed = len(list(await session.scalars(select(Chat.id).where(Chat.state == "closed"))))
        removed_by_chat = Counter(await session.scalars(select(Event.chat_id).where(Event.kind == "ack_removed")))
    return {
        "acks_removed": events["ack_removed"],
        "ack_demands": events["ack_demand"],
        "after_hours_notices": events["after_hours_notice"],
        "duplicate_data_requests": events["duplicate_data_request"],
        "formalism": {kind: events[f"formalism_{kind}"] for kind in FORMALISM_KINDS},
        "notices": len(notices),
        "duplicate_notices": sum(1 for notice in notices if notice.duplicate_of is not None),
        "deadlines": sum(1 for notice in notices if notice.deadline_at is not None),
        "ack_reads": ack_reads,
        "temporary_closes": closed,
        "removed_by_chat": {chat: removed_by_chat[chat] for chat in GROUPS.values()},
    }


# The export --------------------------------------------------------------------------------------


def export_of_script(path: Path) -> list[Path]:
    """The same messages as Telegram Desktop exports them, one file per group."""
    chats = {"A": ExportedChat(1234500001, "朝阳社区工作群"), "B": ExportedChat(1234500002, "向阳社区工作群")}
    ids: dict[int, int] = {}
    for index, step in enumerate(SCRIPT):
        chat, at = chats[step.group], MONDAY + timedelta(minutes=step.minutes)
        sender, reply_to = (step.sender, NAMES[step.sender]), ids.get(step.reply_to)
        options = {
            "sticker": {"sticker": step.text}, "photo": {"photo": True}, "document": {"file": "files/a.pdf"},
            "forward": {"forwarded_from": "李管理"},
        }.get(step.kind, {})  # fmt: skip
        text = "" if step.kind == "sticker" else step.edited_to or step.text
        edited = at + timedelta(minutes=2) if step.edited_to else None
        ids[index] = chat.message(sender, text, at=at, reply_to=reply_to, edited=edited, **options)
    return [write(path / f"{key}.json", single_chat(chat)) for key, chat in chats.items()]


async def replay_report(harness: Harness, exports: list[Path]) -> dict:
    out, err = io.StringIO(), io.StringIO()
    options = ReplayOptions(tuple(exports), "en", database=harness.database_url, as_json=True)
    assert await run_async(harness.deps.settings, options, stdout=out, stderr=err) == 0, err.getvalue()
    return json.loads(out.getvalue())


# The comparison ----------------------------------------------------------------------------------


async def test_replay_counts_what_the_live_bot_did_with_the_same_messages(harness: Harness, tmp_path: Path) -> None:
    await set_up_live(harness)
    await drive_live(harness)
    live = await live_counts(harness)
    report = await replay_report(harness, export_of_script(tmp_path))

    # The scenario exercises every figure (so agreement is not agreement on zero).
    assert (live["acks_removed"], live["ack_demands"], live["after_hours_notices"]) == (8, 3, 2)
    assert (live["notices"], live["duplicate_notices"], live["deadlines"], live["temporary_closes"]) == (9, 1, 7, 1)
    assert live["ack_reads"] == 9
    assert live["duplicate_data_requests"] == 1
    assert live["formalism"] == {"checkin": 1, "photo_proof": 1, "promotion": 1, "instant_reply": 1}

    for key in ("acks_removed", "ack_demands", "after_hours_notices", "duplicate_data_requests", "notices", "formalism",
                "duplicate_notices", "deadlines", "temporary_closes"):  # fmt: skip
        assert report[key] == live[key], key
    assert report["acks_removed"] + report["acks_recorded"] == live["ack_reads"]
    by_chat = {int(chat_id): figures["acks_removed"] for chat_id, figures in report["by_chat"].items()}
    assert by_chat == {1234500001: live["removed_by_chat"][GROUP], 1234500002: live["removed_by_chat"][GROUP_B]}


async def test_replay_with_the_registry_gives_the_digests_figures_per_department(
    harness: Harness, tmp_path: Path
) -> None:
    await set_up_live(harness)
    await drive_live(harness)
    report = await replay_report(harness, export_of_script(tmp_path))
    async with harness.session() as session:
        names = dict((await session.execute(select(Department.id, Department.name))).all())
        digest = await DigestRepository(session).figures(week_window(harness.deps, IsoWeek(2026, 48)))
    replayed = {row["name"]: row["figures"] for row in report["by_department"]}
    assert set(replayed) == {"民政局", "卫健委"}
    for department_id, figures in digest.items():
        compared = ("notices", "data_requests", "duplicate_data_requests", "ack_demands", "acks_removed",
                    "after_hours_notices", "temp_closed",
                    *(f"formalism_{kind}" for kind in FORMALISM_KINDS))  # fmt: skip
        for name in compared:
            assert replayed[names[department_id]][name] == figures.get(name, 0), (names[department_id], name)
        # Both scoreboards show whole minutes, so a total is the sum of its lines.
        assert replayed[names[department_id]]["minutes_saved"] == round(figures.get("minutes_saved", 0))
    assert report["settings"]["registry"] is True
    assert [chat["department"] for chat in report["by_chat"].values()] == ["民政局", "卫健委"]
