"""Whistle reports, the supervisors' side: batches at fixed times, /whistles, a report's card,
respond / forward / rectified / reject, refusals for everyone else, and Telegram errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.handlers.whistle_review import BATCH_TASK, ensure_batch_scheduled
from bot.testing.fake import BLOCKED, too_many_requests
from policies.callbacks import WhistleList, decode
from storage.models import AuditEntry, Task, Whistle
from tests.bot.conftest import ADMIN, GROUP, MEMBER, SUPERVISOR, Harness
from tests.bot.test_whistle import WHISTLER, keyboard, press, registered, submit_report, whistler  # noqa: F401

CONTACT_CHAT = -1009999900001


async def report_with_evidence(harness: Harness) -> str:
    """A report on 民政局 with a photo; returns its receipt code."""
    await harness.private(WHISTLER, "/whistle")
    await press(harness, WHISTLER, "民政局")
    await press(harness, WHISTLER, "要求回复")
    await harness.private(WHISTLER, "每条通知都要求全员回复收到，不回就在群里点名。")
    await harness.send(harness.updates.photo(WHISTLER, WHISTLER, caption="截图"))
    await press(harness, WHISTLER, "完成")
    await press(harness, WHISTLER, "提交")
    from tests.bot.test_whistle import CODE

    code = CODE.search(harness.last_text(WHISTLER)).group(0)
    await announce(harness)
    return code


async def announce(harness: Harness) -> None:
    """Run the next whistle batch: supervisors see reports only from their batch on."""
    await ensure_batch_scheduled(harness.deps)
    async with harness.session() as session:
        due = min(await session.scalars(select(Task.due_at).where(Task.kind == BATCH_TASK, Task.state == "pending")))
    harness.clock.set(max(due, harness.clock()))
    await harness.sweep()
    await harness.sweep()


async def whistle(harness: Harness) -> Whistle:
    async with harness.session() as session:
        return (await session.scalars(select(Whistle))).one()


async def open_first(harness: Harness) -> None:
    await harness.private(SUPERVISOR, "/whistles")
    await press(harness, SUPERVISOR, "查看 #")


async def answer(harness: Harness, button: str, text: str) -> None:
    await press(harness, SUPERVISOR, button)
    await harness.private(SUPERVISOR, text)


def at_local(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour - 8, minute, tzinfo=UTC)


# --- batches -------------------------------------------------------------------------------------------


async def test_supervisors_hear_of_new_reports_only_at_the_next_batch_time(harness: Harness) -> None:
    await harness.private(SUPERVISOR, "/start")
    await registered(harness, "民政局")
    await ensure_batch_scheduled(harness.deps)  # at start-up; 09:00 now, so the next is 15:00
    await submit_report(harness)
    before = len(harness.texts(SUPERVISOR))
    harness.clock.set(at_local(14, 59))
    await harness.sweep()
    assert len(harness.texts(SUPERVISOR)) == before
    harness.clock.set(at_local(15))
    await harness.sweep()  # the batch: one notification task per supervisor
    await harness.sweep()
    batch = harness.last_text(SUPERVISOR)
    assert "新的匿名反映：1 条" in batch and "民政局" in batch and "要求回复" not in batch
    _message, buttons = keyboard(harness, SUPERVISOR)
    assert decode(buttons[0]["callback_data"]) == WhistleList("o", 0, 0)
    # Told once: later batches without new reports say nothing.
    harness.clock.set(at_local(9, day=24))
    await harness.sweep()
    await harness.sweep()
    assert sum("新的匿名反映" in text for text in harness.texts(SUPERVISOR)) == 1
    async with harness.session() as session:
        keys = set(await session.scalars(select(Task.key).where(Task.kind == BATCH_TASK, Task.state == "pending")))
    assert keys == {f"{BATCH_TASK}:2026-11-24T15:00:00+08:00"}


async def test_scheduling_the_batch_twice_or_from_two_replicas_keeps_one(harness: Harness) -> None:
    await ensure_batch_scheduled(harness.deps)
    async with harness.replica() as (deps, _app):
        await ensure_batch_scheduled(deps)
    async with harness.session() as session:
        batches = list(await session.scalars(select(Task).where(Task.kind == BATCH_TASK)))
    assert len(batches) == 1 and batches[0].due_at == at_local(15)


async def test_a_report_open_too_long_is_flagged_and_again_a_week_later(harness: Harness) -> None:
    await harness.private(SUPERVISOR, "/start")
    await registered(harness, "民政局")
    await submit_report(harness)
    harness.clock.advance(timedelta(days=15))
    await ensure_batch_scheduled(harness.deps)
    harness.clock.advance(timedelta(hours=6))
    await harness.sweep()
    await harness.sweep()
    flagged = harness.last_text(SUPERVISOR)
    assert "超过 14 天仍未办结：1 条" in flagged
    harness.clock.advance(timedelta(days=1))
    await harness.sweep()
    await harness.sweep()
    assert sum("仍未办结" in t for t in harness.texts(SUPERVISOR)) == 1
    harness.clock.advance(timedelta(days=7))
    await ensure_batch_scheduled(harness.deps)
    for _ in range(30):
        await harness.sweep()
    assert sum("仍未办结" in t for t in harness.texts(SUPERVISOR)) == 2


async def test_a_supervisor_who_blocked_the_bot_is_recorded_and_the_others_still_hear(harness: Harness) -> None:
    other = 1002
    harness.fake.add_user(other, "赵督导", language_code="en")
    await harness.private(SUPERVISOR, "/start")
    await harness.private(other, "/start")
    await harness.private(SUPERVISOR, f"/grant {other} supervisor")
    await registered(harness, "民政局")
    await submit_report(harness)
    await ensure_batch_scheduled(harness.deps)
    harness.clock.set(at_local(15))
    harness.fake.fail_next("sendMessage", BLOCKED, chat_id=SUPERVISOR)
    harness.fake.fail_next("sendMessage", too_many_requests(5), chat_id=other)
    await harness.sweep()
    await harness.sweep()
    assert not any("匿名反映：1" in t for t in harness.texts(SUPERVISOR))
    assert not any("New anonymous reports" in t for t in harness.texts(other))
    harness.clock.advance(timedelta(minutes=5))  # the 429 is retried after its backoff
    await harness.sweep()
    assert "New anonymous reports: 1" in harness.last_text(other)
    async with harness.session() as session:
        from storage.models import Person

        blocked = await session.get(Person, SUPERVISOR)
    assert blocked.has_private_chat is False


# --- /whistles and the card ------------------------------------------------------------------------------


async def test_a_report_is_not_listed_or_opened_before_its_batch(harness: Harness) -> None:
    await registered(harness, "民政局")
    await submit_report(harness)
    await harness.private(SUPERVISOR, "/whistles all")
    assert "还没有匿名反映" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, "/digest this")
    assert any("新的匿名反映（吹哨）：0" in t for t in harness.texts(SUPERVISOR))
    message_id = harness.fake.sent(SUPERVISOR)[-1]["message_id"]
    await harness.send(harness.updates.callback(SUPERVISOR, SUPERVISOR, message_id, "ws:o:1"))
    assert "不存在" in harness.fake.calls_to("answerCallbackQuery")[-1]["text"]
    assert (await whistle(harness)).status == "new"
    await announce(harness)
    await harness.private(SUPERVISOR, "/whistles all")
    assert "匿名反映：1 条" in harness.last_text(SUPERVISOR)


async def test_opening_a_report_puts_it_under_review_and_resends_its_evidence(harness: Harness) -> None:
    await registered(harness, "民政局")
    code = await report_with_evidence(harness)
    await harness.private(SUPERVISOR, "/whistles")
    listing = harness.last_text(SUPERVISOR)
    assert "匿名反映：1 条" in listing and "#1 · 已收到 · 民政局" in listing
    await press(harness, SUPERVISOR, "查看 #1")
    card = [t for t in harness.texts(SUPERVISOR) if "匿名反映 #1" in t][-1]
    assert "核查中" in card and "全员回复收到" in card and "证据：1 件" in card
    photos = [p for p in harness.fake.calls_to("sendPhoto") if str(p["chat_id"]) == str(SUPERVISOR)]
    assert len(photos) == 1 and photos[0]["caption"] == "截图"
    assert (await whistle(harness)).status == "review"
    await harness.private(WHISTLER, f"/status {code}")
    assert "核查中" in harness.last_text(WHISTLER) and "督导已开始核查" in harness.last_text(WHISTLER)
    async with harness.session() as session:
        audit = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "whistle.review")))
    assert [(a.actor_id, a.target) for a in audit] == [(SUPERVISOR, "whistle:1")]


async def test_a_long_report_is_shown_in_full(harness: Harness) -> None:
    await registered(harness, "民政局")
    long_description = "台账" * 500 + "（完）"
    await harness.private(WHISTLER, "/whistle")
    await press(harness, WHISTLER, "民政局")
    await press(harness, WHISTLER, "其他")
    await harness.private(WHISTLER, long_description)
    await press(harness, WHISTLER, "跳过")
    assert long_description in harness.last_text(WHISTLER)
    await press(harness, WHISTLER, "提交")
    await announce(harness)
    await open_first(harness)
    assert any(long_description in t for t in harness.texts(SUPERVISOR))


async def test_a_response_reaches_the_whistleblower_through_the_code(harness: Harness) -> None:
    await registered(harness, "民政局")
    code = await report_with_evidence(harness)
    await open_first(harness)
    await answer(harness, "答复", "已联系民政局，要求本周内停止要求回复“收到”。")
    assert "已答复 #1" in harness.last_text(SUPERVISOR)
    await harness.private(WHISTLER, f"/status {code}")
    status = harness.last_text(WHISTLER)
    assert "督导答复：已联系民政局" in status and "核查中" in status


async def test_forwarding_sends_content_only_to_the_departments_contact_chat(harness: Harness) -> None:
    harness.fake.add_group(CONTACT_CHAT, "民政局联络群", creator_id=ADMIN, members=[MEMBER])
    await registered(harness, "民政局")
    await harness.private(SUPERVISOR, f"/dept contact 民政局 {CONTACT_CHAT}")
    code = await report_with_evidence(harness)
    await open_first(harness)
    await press(harness, SUPERVISOR, "转交")
    assert "已把反映内容转交“民政局”" in harness.last_text(SUPERVISOR)
    forwarded = harness.texts(CONTACT_CHAT)
    assert any("全员回复收到" in t and "经减负助手转交" in t for t in forwarded)
    assert [p["caption"] for p in harness.fake.calls_to("sendPhoto") if str(p["chat_id"]) == str(CONTACT_CHAT)] == [
        "截图"
    ]
    assert not any("庄晓秋" in t or str(WHISTLER) in t for t in forwarded)
    assert (await whistle(harness)).status == "forwarded"
    await answer(harness, "标记已整改", "民政局已取消“收到”要求。")
    assert (await whistle(harness)).status == "rectified"
    await harness.private(WHISTLER, f"/status {code}")
    status = harness.last_text(WHISTLER)
    assert "已整改" in status and "已转交该部门处理" in status and "民政局已取消" in status


async def test_forwarding_without_a_contact_chat_or_registered_department_is_refused(harness: Harness) -> None:
    await registered(harness, "民政局")
    await report_with_evidence(harness)
    await open_first(harness)
    await press(harness, SUPERVISOR, "转交")
    assert "没有设置联络群" in harness.last_text(SUPERVISOR)
    assert (await whistle(harness)).status == "review"


async def test_a_failed_forward_changes_nothing(harness: Harness) -> None:
    harness.fake.add_group(CONTACT_CHAT, "民政局联络群", creator_id=ADMIN)
    await registered(harness, "民政局")
    await harness.private(SUPERVISOR, f"/dept contact 民政局 {CONTACT_CHAT}")
    await report_with_evidence(harness)
    await open_first(harness)
    harness.fake.fail_next("sendMessage", BLOCKED, chat_id=CONTACT_CHAT)
    await press(harness, SUPERVISOR, "转交")
    assert "没能发送" in harness.last_text(SUPERVISOR)
    assert (await whistle(harness)).status == "review"


async def test_rejecting_needs_a_reason_and_settles_the_report(harness: Harness) -> None:
    await registered(harness, "民政局")
    code = await report_with_evidence(harness)
    await open_first(harness)
    await press(harness, SUPERVISOR, "不予采纳")
    await harness.send(harness.updates.sticker(SUPERVISOR, SUPERVISOR, "👍"))
    assert "请用文字回复" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, "经核实，该要求属于紧急防汛通知，符合规定。")
    assert (await whistle(harness)).status == "rejected"
    await harness.private(WHISTLER, f"/status {code}")
    assert "未予采纳：经核实" in harness.last_text(WHISTLER)
    # A settled report offers no more status buttons, and a stale one changes nothing.
    await harness.private(SUPERVISOR, "/whistles all")
    await press(harness, SUPERVISOR, "查看 #1")
    _message, buttons = keyboard(harness, SUPERVISOR)
    assert [b["text"] for b in buttons] == ["答复"]
    message_id, _ = keyboard(harness, SUPERVISOR)
    await harness.send(harness.updates.callback(SUPERVISOR, SUPERVISOR, message_id, "ws:k:1"))
    assert "不能做这个操作" in harness.last_text(SUPERVISOR)
    assert (await whistle(harness)).status == "rejected"


async def test_cancel_abandons_a_pending_answer(harness: Harness) -> None:
    await registered(harness, "民政局")
    await report_with_evidence(harness)
    await open_first(harness)
    await press(harness, SUPERVISOR, "标记已整改")
    await harness.private(SUPERVISOR, "/cancel")
    assert "已放弃" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, "这句话不该变成整改说明。")
    assert (await whistle(harness)).status == "review"


async def test_whistles_filters_by_department_and_pages(harness: Harness) -> None:
    await registered(harness, "民政局", "卫健委")
    for _ in range(3):
        await submit_report(harness, department="民政局", category="其他")
    harness.clock.advance(timedelta(days=1))
    await submit_report(harness, department="卫健委", category="其他")
    await announce(harness)
    await harness.private(SUPERVISOR, "/whistles 卫健委")
    assert "匿名反映：1 条" in harness.last_text(SUPERVISOR) and "卫健委" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, "/whistles 不存在的部门")
    assert "不存在的部门" in harness.last_text(SUPERVISOR)
    await harness.private(SUPERVISOR, "/whistles all")
    assert "匿名反映：4 条（第 1/1 页）" in harness.last_text(SUPERVISOR)


async def test_only_supervisors_see_or_touch_reports(harness: Harness) -> None:
    await registered(harness, "民政局")
    await report_with_evidence(harness)
    await harness.private(MEMBER, "/whistles")
    assert "只有督导" in harness.last_text(MEMBER)
    await harness.command(GROUP, SUPERVISOR, "/whistles")
    assert "私聊" in harness.last_text(GROUP)
    await harness.private(SUPERVISOR, "/whistles")
    message_id, _ = keyboard(harness, SUPERVISOR)
    for data in ("ws:o:1", "ws:k:1", "ws:f:1", "ws:l:a:0"):
        await harness.send(harness.updates.callback(MEMBER, SUPERVISOR, message_id, data))
        assert "只有督导" in harness.fake.calls_to("answerCallbackQuery")[-1]["text"]
    assert (await whistle(harness)).status == "new"
    assert not [t for t in harness.texts(MEMBER) if "匿名反映 #" in t]


async def test_malformed_review_buttons_change_nothing(harness: Harness) -> None:
    await registered(harness, "民政局")
    await report_with_evidence(harness)
    await harness.private(SUPERVISOR, "/whistles")
    message_id, _ = keyboard(harness, SUPERVISOR)
    for data in ("ws:o:x", "ws:z:1", "ws:l:q:0", "ws:o:99"):
        await harness.send(harness.updates.callback(SUPERVISOR, SUPERVISOR, message_id, data))
        answered = harness.fake.calls_to("answerCallbackQuery")[-1]["text"]
        assert "失效" in answered or "不存在" in answered
    assert (await whistle(harness)).status == "new"


async def test_english_supervisors_get_english(harness: Harness) -> None:
    from tests.bot.conftest import ENGLISH

    await registered(harness, "民政局")
    await harness.private(SUPERVISOR, f"/grant {ENGLISH} supervisor")
    await report_with_evidence(harness)
    await harness.private(ENGLISH, "/whistles")
    assert "Anonymous reports: 1" in harness.last_text(ENGLISH)
    await press(harness, ENGLISH, "Open #1")
    card = [t for t in harness.texts(ENGLISH) if "Anonymous report #1" in t][-1]
    assert "under review" in card and "Demands to reply" in card
