"""Whistle reports, the whistleblower's side: the guided flow in both languages, every bad input,
/cancel and expiry, receipt codes and /status, and the anonymity dump."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_application
from bot.context import Deps
from bot.testing.fake import BLOCKED
from bot.testing.updates import UpdateFactory
from bot.whistle_state import Draft, Drafts
from storage.db import Database
from storage.models import Base, GroupAction, Whistle, WhistleDraft, WhistleEvidence, WhistleLimit
from tests.bot.conftest import ENGLISH, SUPERVISOR, Harness, make_settings, scalar

WHISTLER = 6001
CODE = re.compile(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}")


# --- helpers -------------------------------------------------------------------------------------


def keyboard(harness: Harness, chat: int) -> tuple[int, list[dict[str, Any]]]:
    """The latest bot message in the chat that still has buttons, and its buttons."""
    for message in reversed(harness.fake.sent(chat)):
        markup = message.get("reply_markup")
        if markup:
            return message["message_id"], [button for row in markup["inline_keyboard"] for button in row]
    raise AssertionError(f"no keyboard in chat {chat}")


async def press(harness: Harness, user: int, label: str) -> None:
    message_id, buttons = keyboard(harness, user)
    matching = [b for b in buttons if label in b["text"]]
    assert matching, f"no button {label!r} among {[b['text'] for b in buttons]}"
    await harness.send(harness.updates.callback(user, user, message_id, matching[0]["callback_data"]))


async def registered(harness: Harness, *names: str) -> None:
    for name in names:
        await harness.private(SUPERVISOR, f"/dept add {name}")


async def write_report(
    harness: Harness, user: int = WHISTLER, *, department: str = "民政局", category: str = "重复"
) -> str:
    """The zh flow up to the review screen (nothing is stored yet); returns the review."""
    await harness.private(user, "/start whistle")
    _message, buttons = keyboard(harness, user)
    if any(b["text"] == department for b in buttons):
        await press(harness, user, department)
    else:
        await type_department(harness, user)
    await press(harness, user, category)
    await harness.private(user, "民政局每周让我们重复填报同一张独居老人台账，已经第三次了。")
    await press(harness, user, "跳过")
    return harness.last_text(user)


async def submit_report(harness: Harness, user: int = WHISTLER, **options: Any) -> str:
    await write_report(harness, user, **options)
    await press(harness, user, "提交")
    found = CODE.search(harness.last_text(user))
    assert found, harness.last_text(user)
    return found.group(0)


async def whistle_count(harness: Harness) -> int:
    async with harness.session() as session:
        return await scalar(session, select(func.count()).select_from(Whistle))


async def draft_count(harness: Harness) -> int:
    async with harness.session() as session:
        return await scalar(session, select(func.count()).select_from(WhistleDraft))


async def limit_rows(harness: Harness) -> int:
    async with harness.session() as session:
        return await scalar(session, select(func.count()).select_from(WhistleLimit))


async def stored_draft(harness: Harness, user: int) -> Draft | None:
    """The person's draft as the database holds it (unsealed with the bot's keys)."""
    async with harness.session() as session:
        draft, _expired = await Drafts(harness.deps, session).open(user)
    return draft


@pytest.fixture(autouse=True)
def whistler(harness: Harness) -> None:
    harness.fake.add_user(WHISTLER, "庄晓秋", last_name="Zhuang", username="whistler_zx", language_code="zh-hans")


# --- the flow --------------------------------------------------------------------------------------


async def test_a_report_goes_from_deep_link_to_receipt_code(harness: Harness) -> None:
    await registered(harness, "民政局", "卫健委")
    await harness.private(WHISTLER, "/start whistle")
    assert "匿名“吹哨”" in harness.texts(WHISTLER)[-2]
    _message, buttons = keyboard(harness, WHISTLER)
    assert {"民政局", "卫健委"} <= {b["text"] for b in buttons}
    await press(harness, WHISTLER, "民政局")
    assert "第 2 步" in harness.last_text(WHISTLER)
    await press(harness, WHISTLER, "重复、多头要数据")
    await harness.private(WHISTLER, "民政局每周让我们重复填报同一张独居老人台账，已经第三次了。")
    assert "第 4 步" in harness.last_text(WHISTLER)
    await harness.send(harness.updates.photo(WHISTLER, WHISTLER, caption="群里的截图"))
    await harness.send(
        harness.updates.forwarded(WHISTLER, WHISTLER, "请各社区今天下班前再报一次台账", author_id=SUPERVISOR)
    )
    assert "第 2 件" in harness.last_text(WHISTLER)
    await press(harness, WHISTLER, "完成")
    review = harness.last_text(WHISTLER)
    assert "民政局" in review and "证据：2 件" in review and "独居老人台账" in review
    await press(harness, WHISTLER, "提交")
    receipt = harness.last_text(WHISTLER)
    code = CODE.search(receipt).group(0)
    assert "只显示这一次" in receipt
    async with harness.session() as session:
        whistle = (await session.scalars(select(Whistle))).one()
        evidence = list(await session.scalars(select(WhistleEvidence).order_by(WhistleEvidence.position)))
    assert (whistle.category, whistle.status, whistle.department_name) == ("data_request", "new", None)
    assert whistle.created_on.isoformat() == "2026-11-23" and whistle.description.startswith("民政局每周")
    assert whistle.code_hash.startswith("scrypt$") and code not in whistle.code_hash
    assert [(e.kind, e.text) for e in evidence] == [("photo", "群里的截图"), ("text", "请各社区今天下班前再报一次台账")]
    # Supervisors hear nothing the moment a report arrives: only in the next batch.
    assert not [t for t in harness.texts(SUPERVISOR) if "匿名反映" in t]


async def test_the_flow_in_english_with_a_department_typed_as_it_is(harness: Harness) -> None:
    await harness.private(ENGLISH, "/whistle")
    assert "which department" in harness.last_text(ENGLISH)
    await harness.private(ENGLISH, "Bureau of Forms")
    assert "not registered" in harness.last_text(ENGLISH)
    await press(harness, ENGLISH, "Submit as")
    await press(harness, ENGLISH, "check in")
    await harness.private(ENGLISH, "They ask us to reply received to every message, all day long.")
    await press(harness, ENGLISH, "Skip")
    await press(harness, ENGLISH, "Submit")
    assert "Your receipt code" in harness.last_text(ENGLISH)
    async with harness.session() as session:
        whistle = (await session.scalars(select(Whistle))).one()
    assert (whistle.department_id, whistle.department_name, whistle.category) == (None, "Bureau of Forms", "ack_demand")


async def test_a_typed_department_close_to_a_registered_one_is_offered(harness: Harness) -> None:
    await registered(harness, "民政局")
    await harness.private(WHISTLER, "/whistle")
    await harness.private(WHISTLER, "民政")
    assert "是不是下面这些部门" in harness.last_text(WHISTLER)
    await press(harness, WHISTLER, "民政局")
    assert "“民政局”的哪一类问题" in harness.last_text(WHISTLER)


async def test_an_exact_typed_department_is_taken_at_once(harness: Harness) -> None:
    await registered(harness, "民政局")
    await harness.private(WHISTLER, "/whistle")
    await harness.private(WHISTLER, "民政局")
    assert "第 2 步" in harness.last_text(WHISTLER)


async def test_starting_over_from_the_review_keeps_nothing_from_before(harness: Harness) -> None:
    await registered(harness, "民政局", "卫健委")
    await harness.private(WHISTLER, "/whistle")
    await press(harness, WHISTLER, "民政局")
    await press(harness, WHISTLER, "其他")
    await harness.private(WHISTLER, "民政局每周让我们重复填报同一张独居老人台账，已经第三次了。")
    await harness.send(harness.updates.document(WHISTLER, WHISTLER, file_name="张三的台账.xlsx"))
    await press(harness, WHISTLER, "完成")
    await press(harness, WHISTLER, "重新填写")
    await press(harness, WHISTLER, "卫健委")
    await press(harness, WHISTLER, "会议")
    await harness.private(WHISTLER, "卫健委一周开了五次视频会，每次都要求全员签到截图。")
    await press(harness, WHISTLER, "跳过")
    await press(harness, WHISTLER, "提交")
    assert "证据：0 件" in harness.texts(WHISTLER)[-2]  # the file attached before is gone too
    async with harness.session() as session:
        whistle = (await session.scalars(select(Whistle))).one()
        evidence = await scalar(session, select(func.count()).select_from(WhistleEvidence))
    assert whistle.category == "meetings" and whistle.description.startswith("卫健委") and evidence == 0


# --- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [("太短了", "描述太短了（3 字）"), ("长" * 2001, "描述太长了（2001 字）")],
)
async def test_a_description_of_the_wrong_length_is_refused_and_can_be_retried(
    harness: Harness, text: str, answer: str
) -> None:
    await harness.private(WHISTLER, "/whistle")
    await type_department(harness)
    await press(harness, WHISTLER, "其他")
    await harness.private(WHISTLER, text)
    assert answer in harness.last_text(WHISTLER)
    await harness.private(WHISTLER, "这次写得足够长了，说明了发生了什么事情。")
    assert "第 4 步" in harness.last_text(WHISTLER)


async def test_a_sticker_where_text_is_expected_and_where_evidence_is_expected(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    await harness.send(harness.updates.sticker(WHISTLER, WHISTLER, "👍"))
    assert "需要文字" in harness.last_text(WHISTLER)
    await type_department(harness)
    await press(harness, WHISTLER, "其他")
    await harness.send(harness.updates.sticker(WHISTLER, WHISTLER, "👍"))
    assert "需要文字" in harness.last_text(WHISTLER)
    await harness.private(WHISTLER, "这次写得足够长了，说明了发生了什么事情。")
    await harness.send(harness.updates.sticker(WHISTLER, WHISTLER, "👍"))
    assert "不能作为证据" in harness.last_text(WHISTLER)


async def test_text_where_a_button_is_expected_gets_a_hint(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    await type_department(harness)
    await harness.private(WHISTLER, "随便说点什么")
    assert "请点上面的按钮选择类别" in harness.last_text(WHISTLER)


async def test_a_department_name_that_cannot_be_one_is_refused(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    await harness.private(WHISTLER, "12345")
    assert "不能只有数字" in harness.last_text(WHISTLER)
    await harness.private(WHISTLER, "部" * 101)
    assert "太长" in harness.last_text(WHISTLER)


async def test_evidence_stops_at_the_configured_limit(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    await type_department(harness)
    await press(harness, WHISTLER, "其他")
    await harness.private(WHISTLER, "这次写得足够长了，说明了发生了什么事情。")
    for _ in range(harness.deps.settings.whistle.max_evidence):
        await harness.send(harness.updates.document(WHISTLER, WHISTLER, file_name="表.xlsx"))
    await harness.send(harness.updates.document(WHISTLER, WHISTLER))
    assert "上限" in harness.last_text(WHISTLER)
    await press(harness, WHISTLER, "完成（10 件）")
    assert "证据：10 件" in harness.last_text(WHISTLER)


async def test_no_evidence_is_asked_for_when_none_is_allowed(harness: Harness) -> None:
    settings = make_settings(whistle={"max_evidence": 0})
    db = Database.from_url(harness.database_url)
    deps = Deps.create(settings, db=db, clock=harness.clock, request=harness.fake)
    app = build_application(settings, deps)
    try:
        async with app:
            updates = UpdateFactory(harness.fake, app.bot)
            strict = Harness(app, harness.fake, updates, harness.clock, db, deps, harness.database_url)
            await strict.private(WHISTLER, "/whistle")
            await type_department(strict)
            await press(strict, WHISTLER, "其他")
            await strict.private(WHISTLER, "这次写得足够长了，说明了发生了什么事情。")
            assert "请确认你的反映" in strict.last_text(WHISTLER)
            assert not [text for text in strict.texts(WHISTLER) if "可以附上证据" in text]
            assert (await stored_draft(strict, WHISTLER)).step == "review"
    finally:
        await db.dispose()


async def whistle_in_the_group(harness: Harness, user: int) -> tuple[int, list[dict]]:
    """/whistle typed in the group by `user`, the bot an admin allowed to delete: the command's id,
    and what the bot said in the group about it."""
    from tests.bot.conftest import GROUP
    from tests.bot.test_received import ALL_RIGHTS, join

    await join(harness, **ALL_RIGHTS)
    said_before = len(harness.fake.sent(GROUP, include_deleted=True))  # the bot's introduction
    command = harness.updates.command(GROUP, user, "/whistle")
    await harness.send(command)
    return command.message.message_id, harness.fake.sent(GROUP, include_deleted=True)[said_before:]


async def test_whistle_in_a_group_is_removed_at_once_and_answered_privately(harness: Harness) -> None:
    from tests.bot.conftest import GROUP, MEMBER

    await harness.private(MEMBER, "/start")
    command, said = await whistle_in_the_group(harness, MEMBER)
    assert harness.fake.is_deleted(GROUP, command)
    assert said == []  # the group hears nothing
    assert "我已立即删除" in harness.last_text(MEMBER) and "/whistle" in harness.last_text(MEMBER)
    assert await draft_count(harness) == 0
    async with harness.session() as session:  # the group's action log does not say whose it was
        logged = list(await session.scalars(select(GroupAction)))
    assert logged and not [row for row in logged if row.person_id == MEMBER or row.kind == "delete"]


async def test_whistle_in_a_group_from_someone_who_never_started_the_bot_gets_a_note_naming_nobody(
    harness: Harness,
) -> None:
    from tests.bot.conftest import GROUP, MEMBER

    command, [note] = await whistle_in_the_group(harness, MEMBER)
    assert harness.fake.is_deleted(GROUP, command)
    assert "私聊我并发送 /whistle" in note["text"] and "张三" not in note["text"]
    assert "reply_to_message" not in note
    harness.clock.advance(timedelta(minutes=2))
    await harness.sweep()
    assert harness.fake.is_deleted(GROUP, note["message_id"])
    assert await draft_count(harness) == 0


async def test_the_daily_limit_refuses_the_sixth_report(harness: Harness) -> None:
    limit = harness.deps.settings.whistle.reports_per_day
    for _ in range(limit):
        await submit_report(harness, department="民政局", category="其他")
    await harness.private(WHISTLER, "/whistle")
    assert "上限（每天 5 条）" in harness.last_text(WHISTLER)
    assert await whistle_count(harness) == limit
    harness.clock.advance(timedelta(days=1))
    await harness.private(WHISTLER, "/whistle")
    assert "第 1 步" in harness.last_text(WHISTLER)


async def type_department(harness: Harness, user: int = WHISTLER, name: str = "民政局") -> None:
    """Type a department nobody registered, and keep it as typed."""
    await harness.private(user, name)
    await press(harness, user, f"按“{name}”提交")


# --- cancel and expiry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 4])
async def test_cancel_works_at_every_step_and_saves_nothing(harness: Harness, steps: int) -> None:
    moves = [
        lambda: type_department(harness),
        lambda: press(harness, WHISTLER, "其他"),
        lambda: harness.private(WHISTLER, "这次写得足够长了，说明了发生了什么事情。"),
        lambda: press(harness, WHISTLER, "跳过"),
    ]
    await harness.private(WHISTLER, "/whistle")
    for move in moves[:steps]:
        await move()
    await harness.private(WHISTLER, "/cancel")
    assert "什么都没有保存" in harness.last_text(WHISTLER)
    assert await draft_count(harness) == 0
    assert await whistle_count(harness) == 0
    await harness.private(WHISTLER, "/cancel")
    assert "没有可以取消" in harness.last_text(WHISTLER)


async def test_the_abandon_button_cancels_too(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    await press(harness, WHISTLER, "放弃")
    assert "什么都没有保存" in harness.last_text(WHISTLER)
    assert await draft_count(harness) == 0


async def test_an_abandoned_report_expires_and_its_buttons_go_stale(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    await type_department(harness)
    message_id, buttons = keyboard(harness, WHISTLER)
    harness.clock.advance(timedelta(minutes=31))
    await harness.private(WHISTLER, "这次写得足够长了，说明了发生了什么事情。")
    assert "已经作废" in harness.last_text(WHISTLER)
    assert await draft_count(harness) == 0  # deleted when found idle
    await harness.send(harness.updates.callback(WHISTLER, WHISTLER, message_id, buttons[0]["callback_data"]))
    answer = harness.fake.calls_to("answerCallbackQuery")[-1]
    assert "失效" in answer["text"]
    assert await whistle_count(harness) == 0


async def test_a_forged_or_old_button_changes_nothing(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    message_id, _buttons = keyboard(harness, WHISTLER)
    await harness.private(WHISTLER, "/cancel")
    await harness.private(WHISTLER, "/whistle")
    await harness.send(harness.updates.callback(WHISTLER, WHISTLER, message_id, "wh:oldtoken:c:other"))
    assert "失效" in harness.fake.calls_to("answerCallbackQuery")[-1]["text"]
    draft = await stored_draft(harness, WHISTLER)
    assert draft.category is None and draft.step == "department"


# --- /status CODE ----------------------------------------------------------------------------------------


async def test_status_shows_the_report_for_its_code_in_any_spelling(harness: Harness) -> None:
    code = await submit_report(harness)
    await harness.private(WHISTLER, f"/status {code}")
    assert "状态：已收到" in harness.last_text(WHISTLER)
    sloppy = code.lower().replace("-", " ").replace("0", "o")
    await harness.private(WHISTLER, f"/status {sloppy}")
    assert "你的反映" in harness.last_text(WHISTLER)
    # Anyone holding the code can follow the report: it is not tied to the person.
    await harness.private(ENGLISH, f"/status {code}")
    assert "Your report" in harness.last_text(ENGLISH) and "received" in harness.last_text(ENGLISH)


async def test_a_wrong_code_and_a_malformed_one_get_the_same_answer(harness: Harness) -> None:
    code = await submit_report(harness)
    wrong = ("0" if code[0] != "0" else "1") + code[1:]
    await harness.private(WHISTLER, f"/status {wrong}")
    first = harness.last_text(WHISTLER)
    await harness.private(WHISTLER, "/status not-a-code")
    assert harness.last_text(WHISTLER) == first and "没有找到" in first
    await harness.private(WHISTLER, "/status")
    assert "附上回执码" in harness.last_text(WHISTLER)


async def test_guessing_codes_is_rate_limited_even_for_the_right_code(harness: Harness) -> None:
    code = await submit_report(harness)
    for number in range(harness.deps.settings.whistle.code_attempts_per_hour):
        await harness.private(STRANGER_GUESSER, f"/status {number:020d}")
    await harness.private(STRANGER_GUESSER, f"/status {code}")
    assert "尝试次数太多" in harness.last_text(STRANGER_GUESSER)
    harness.clock.advance(timedelta(hours=1))
    await harness.private(STRANGER_GUESSER, f"/status {code}")
    assert "你的反映" in harness.last_text(STRANGER_GUESSER)


STRANGER_GUESSER = 4001


# --- anonymity -------------------------------------------------------------------------------------------


async def dump_database(harness: Harness) -> str:
    """Every value of every column of every table, as one text."""
    values: list[str] = []
    async with harness.session() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                values.extend(repr(value) for value in row)
    return "\n".join(values)


async def test_nothing_stored_or_logged_identifies_the_whistleblower(
    harness: Harness, debug_logging: pytest.LogCaptureFixture
) -> None:
    caplog = debug_logging
    await registered(harness, "民政局")
    distinctive = 987654321987
    harness.fake.add_user(
        distinctive, "Qiuyue", last_name="Zhuangxiao", username="zx_qiuyue_77", language_code="zh-hans"
    )
    traces = (str(distinctive), "Qiuyue", "Zhuangxiao", "zx_qiuyue_77")
    # Opening the deep link for the first time: Telegram first says the person started the bot.
    await harness.send(harness.updates.my_chat_member(distinctive, distinctive, old="left", new="member"))
    await harness.private(distinctive, "/start whistle")
    await press(harness, distinctive, "民政局")
    await press(harness, distinctive, "重复")
    description = harness.updates.private(distinctive, "民政局每周让我们重复填报同一张独居老人台账，已经第三次了。")
    await harness.send(description)
    # An edit while writing is answered, not recorded.
    await harness.send(
        harness.updates.edited(
            distinctive, description.message.message_id, "民政局每周都要台账，第三次了。", user_id=distinctive
        )
    )
    assert "重新发一遍" in harness.last_text(distinctive)
    # Evidence forwarded from themselves: Telegram names them as its author; only content is kept.
    await harness.send(harness.updates.forwarded(distinctive, distinctive, "请各社区再报一次", author_id=distinctive))
    await harness.send(harness.updates.document(distinctive, distinctive, file_name="台账.xlsx"))
    # A copy of the database taken while the report is being written: a draft row and a rate-limit
    # row exist, yet neither the person nor what they wrote shows in clear.
    await harness.private(distinctive, "/status 0000-0000-0000-0000-0000")
    while_drafting = await dump_database(harness)
    assert await draft_count(harness) == 1 and await limit_rows(harness) == 1
    for trace in (*traces, "独居老人台账", "请各社区再报一次", "台账.xlsx"):
        assert trace not in while_drafting, f"{trace!r} is in the database while drafting"
    # A Telegram failure on the way is logged without the chat (the person's id).
    harness.fake.fail_next("sendMessage", BLOCKED, chat_id=distinctive)
    await harness.send(harness.updates.photo(distinctive, distinctive))
    await press(harness, distinctive, "完成")
    await press(harness, distinctive, "提交")
    code = CODE.search(harness.last_text(distinctive)).group(0)
    await harness.private(distinctive, f"/status {code}")
    await harness.private(distinctive, "/status WRONG-CODE")
    assert await whistle_count(harness) == 1

    stored = await dump_database(harness)
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    assert await draft_count(harness) == 0
    for trace in (*traces, code, code.replace("-", "")):
        assert trace not in stored, f"{trace!r} is in the database"
        assert trace not in logged, f"{trace!r} is in the logs"
    # The failed send was logged (so logging was captured), naming no chat.
    assert any("to a private chat" in record.getMessage() for record in caplog.records)
