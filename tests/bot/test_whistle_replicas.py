"""The whistle flows kept in the database: a report and a supervisor's answer whose steps land on
different replicas, rate limits shared by replicas and kept across restarts, expiry and the purge
job, and which private messages the whistle flow takes (only those of people writing a report)."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from telegram import Update

from bot.whistle_state import CODES, PendingAnswer, PendingAnswers, purge, rate_windows
from policies.whistle import limit_bucket, period_key
from storage.models import Person, Whistle, WhistleDraft, WhistleEvidence, WhistleLimit, WhistlePendingAnswer
from tests.bot.conftest import SUPERVISOR, Harness, scalar
from tests.bot.test_whistle import (
    CODE,
    WHISTLER,
    draft_count,
    press,
    registered,
    submit_report,
    whistle_count,
    whistler,  # noqa: F401
)
from tests.bot.test_whistle_review import open_first, report_with_evidence

GUESSER = 4001
DESCRIPTION = "民政局每周让我们重复填报同一张独居老人台账，已经第三次了。"


def alternate(harness: Harness, monkeypatch: pytest.MonkeyPatch, *apps: Any) -> Counter[int]:
    """From now on the harness delivers each update to the next of `apps` in turn (a load balancer
    without sticky sessions); returns how many updates each app got, by position."""
    turns, handled = itertools.cycle(enumerate(apps)), Counter[int]()

    async def send(update: Update) -> None:
        position, app = next(turns)
        handled[position] += 1
        await app.process_update(update)

    monkeypatch.setattr(harness, "send", send)
    return handled


async def count(harness: Harness, model: type) -> int:
    async with harness.session() as session:
        return await scalar(session, select(func.count()).select_from(model))


# --- replicas and restarts -------------------------------------------------------------------------


async def test_a_report_whose_steps_alternate_between_replicas_completes_with_one_receipt(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await registered(harness, "民政局")
    async with harness.replica() as (_deps, other):
        handled = alternate(harness, monkeypatch, other, harness.app)
        await harness.private(WHISTLER, "/start whistle")
        await press(harness, WHISTLER, "民政局")
        await press(harness, WHISTLER, "重复")
        await harness.private(WHISTLER, DESCRIPTION)
        photo = harness.updates.photo(WHISTLER, WHISTLER, caption="截图")
        # A webhook retry delivers the photo to both replicas: it is added once.
        await other.process_update(photo)
        await harness.app.process_update(photo)
        await harness.send(harness.updates.document(WHISTLER, WHISTLER, file_name="表.xlsx"))
        await press(harness, WHISTLER, "完成")
        review = harness.last_text(WHISTLER)
        assert "证据：2 件" in review and DESCRIPTION in review
        await press(harness, WHISTLER, "提交")
    assert handled[0] >= 3 and handled[1] >= 3
    receipts = [text for text in harness.texts(WHISTLER) if CODE.search(text)]
    assert len(receipts) == 1 and "只显示这一次" in receipts[0]
    async with harness.session() as session:
        whistle = (await session.scalars(select(Whistle))).one()
        evidence = list(await session.scalars(select(WhistleEvidence.kind).order_by(WhistleEvidence.position)))
    assert (whistle.description, whistle.category, evidence) == (DESCRIPTION, "data_request", ["photo", "document"])
    assert await draft_count(harness) == 0
    await harness.private(WHISTLER, f"/status {CODE.search(receipts[0]).group(0)}")
    assert "状态：已收到" in harness.last_text(WHISTLER)


async def test_the_code_guessing_limit_holds_across_replicas_and_a_restart(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = await submit_report(harness)
    limit = harness.deps.settings.whistle.code_attempts_per_hour
    async with harness.replica() as (_deps, other):
        handled = alternate(harness, monkeypatch, harness.app, other)
        for number in range(limit):
            await harness.private(GUESSER, f"/status {number:020d}")
        assert handled == Counter({0: limit // 2 + limit % 2, 1: limit // 2})
        for app in (harness.app, other):  # even the right code, on either replica
            await app.process_update(harness.updates.private(GUESSER, f"/status {code}"))
            assert "尝试次数太多" in harness.last_text(GUESSER)
    async with harness.replica() as (_deps, restarted):  # the same bot after a restart
        await restarted.process_update(harness.updates.private(GUESSER, f"/status {code}"))
        assert "尝试次数太多" in harness.last_text(GUESSER)
    harness.clock.advance(timedelta(hours=1))
    await harness.app.process_update(harness.updates.private(GUESSER, f"/status {code}"))
    assert "你的反映" in harness.last_text(GUESSER)


async def test_the_daily_report_limit_is_shared_by_replicas(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = harness.deps.settings.whistle.reports_per_day
    async with harness.replica() as (_deps, other):
        alternate(harness, monkeypatch, harness.app, other)
        for _ in range(limit):
            await submit_report(harness, department="民政局", category="其他")
        for app in (harness.app, other):
            await app.process_update(harness.updates.private(WHISTLER, "/whistle"))
            assert "上限（每天 5 条）" in harness.last_text(WHISTLER)
    assert await whistle_count(harness) == limit


async def test_a_right_code_costs_no_attempt_and_leaves_no_count(harness: Harness) -> None:
    code = await submit_report(harness)
    for _ in range(harness.deps.settings.whistle.code_attempts_per_hour + 2):
        await harness.private(GUESSER, f"/status {code}")
        assert "你的反映" in harness.last_text(GUESSER)
    async with harness.session() as session:
        kinds = list(await session.scalars(select(WhistleLimit.kind)))
    assert kinds == ["reports"]  # the report's own count; the checks left nothing behind


async def test_strangers_in_one_bucket_share_its_limit_and_others_do_not(harness: Harness) -> None:
    """The documented trade-off: counts are kept per bucket of people, never per person."""
    code = await submit_report(harness)
    settings = harness.deps.settings
    period = rate_windows(settings)[CODES].index(harness.clock())
    key = period_key(harness.deps.whistle_keys.limits, CODES, period)

    def bucket(user: int) -> int:
        return limit_bucket(key, user, settings.whistle.limit_buckets)

    sharing = next(user for user in range(7001, 90000) if bucket(user) == bucket(GUESSER))
    apart = next(user for user in range(7001, 90000) if bucket(user) != bucket(GUESSER))
    harness.fake.add_user(sharing, "同桶的人", language_code="zh-hans")
    harness.fake.add_user(apart, "别的桶的人", language_code="zh-hans")
    for number in range(settings.whistle.code_attempts_per_hour):
        await harness.private(GUESSER, f"/status {number:020d}")
    await harness.private(sharing, f"/status {code}")
    assert "尝试次数太多" in harness.last_text(sharing)
    await harness.private(apart, f"/status {code}")
    assert "你的反映" in harness.last_text(apart)


async def awaiting_answer(harness: Harness, button: str) -> None:
    """A report under review, and the supervisor has pressed `button`: the bot waits for their text."""
    await registered(harness, "民政局")
    await report_with_evidence(harness)
    await open_first(harness)
    await press(harness, SUPERVISOR, button)


async def test_a_supervisors_answer_typed_on_another_replica_settles_the_report(harness: Harness) -> None:
    await awaiting_answer(harness, "标记已整改")
    async with harness.replica() as (_deps, other):
        await other.process_update(harness.updates.private(SUPERVISOR, "民政局已取消“收到”要求。"))
    assert "#1" in harness.last_text(SUPERVISOR)
    async with harness.session() as session:
        assert await scalar(session, select(Whistle.status)) == "rectified"
    assert await count(harness, WhistlePendingAnswer) == 0


# --- expiry and the purge job ------------------------------------------------------------------------


async def test_an_awaited_answer_expires_and_the_text_is_not_taken(harness: Harness) -> None:
    await awaiting_answer(harness, "不予采纳")
    harness.clock.advance(timedelta(minutes=31))
    await harness.private(SUPERVISOR, "这句话已经不是驳回理由了。")
    async with harness.session() as session:
        assert await scalar(session, select(Whistle.status)) == "review"
    assert await count(harness, WhistlePendingAnswer) == 0


async def test_the_purge_deletes_idle_drafts_expired_answers_and_ended_counts(harness: Harness) -> None:
    assert harness.app.job_queue.get_jobs_by_name("whistle_purge")
    await submit_report(harness)  # a count of today's reports
    await harness.private(WHISTLER, "/whistle")  # a draft
    await harness.private(GUESSER, "/status 0000-0000-0000-0000-0000")  # a count of this hour's guesses
    async with harness.session() as session:
        whistle_id = await scalar(session, select(Whistle.id))
        await PendingAnswers(harness.deps, session).ask(SUPERVISOR, PendingAnswer("response", whistle_id, "zh-CN"))
    assert await purge(harness.deps) == {"drafts": 0, "answers": 0, "limits": 0}
    harness.clock.advance(timedelta(minutes=31))
    assert await purge(harness.deps) == {"drafts": 1, "answers": 1, "limits": 0}
    assert await draft_count(harness) == 0 and await count(harness, WhistlePendingAnswer) == 0
    harness.clock.advance(timedelta(minutes=30))  # 10:01: the 09:00 hour is over, the day is not
    assert await purge(harness.deps) == {"drafts": 0, "answers": 0, "limits": 1}
    harness.clock.advance(timedelta(days=1))
    assert await purge(harness.deps) == {"drafts": 0, "answers": 0, "limits": 1}
    assert await count(harness, WhistleLimit) == 0
    # The person whose draft was purged is not told (the row never said who they were); their
    # next message is an ordinary one.
    await harness.private(WHISTLER, "还在吗？")
    assert "已经作废" not in harness.last_text(WHISTLER)


async def test_a_draft_changed_in_the_database_is_dropped_not_trusted(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.private(WHISTLER, "/whistle")
    async with harness.session() as session:
        await session.execute(update(WhistleDraft).values(sealed=b"\x01" + b"\x00" * 40))
    caplog.set_level(logging.WARNING)
    await harness.private(WHISTLER, "民政局")
    assert "已经作废" in harness.last_text(WHISTLER)
    assert await draft_count(harness) == 0
    assert "could not be opened" in caplog.text and str(WHISTLER) not in caplog.text


# --- which private messages the flow takes -------------------------------------------------------------


async def test_a_private_message_from_someone_not_writing_a_report_goes_on_as_before(harness: Harness) -> None:
    await harness.send(harness.updates.sticker(GUESSER, GUESSER, "👍"))
    assert "只能读懂文字命令" in harness.last_text(GUESSER)  # the fallback answered
    async with harness.session() as session:
        assert (await session.get(Person, GUESSER)).has_private_chat is True  # and the observer saw them


async def test_a_private_message_from_someone_writing_a_report_stops_in_the_flow(harness: Harness) -> None:
    await harness.private(WHISTLER, "/whistle")
    await harness.send(harness.updates.sticker(WHISTLER, WHISTLER, "👍"))
    assert "这一步需要文字" in harness.last_text(WHISTLER)
    assert not any("只能读懂文字命令" in text for text in harness.texts(WHISTLER))
    async with harness.session() as session:
        assert await session.get(Person, WHISTLER) is None  # nothing recorded them


async def test_a_supervisor_with_no_awaited_answer_gets_the_ordinary_reply(harness: Harness) -> None:
    await harness.send(harness.updates.sticker(SUPERVISOR, SUPERVISOR, "👍"))
    assert "只能读懂文字命令" in harness.last_text(SUPERVISOR)


async def test_a_supervisors_awaited_answer_goes_no_further(harness: Harness) -> None:
    await awaiting_answer(harness, "答复")
    await harness.send(harness.updates.sticker(SUPERVISOR, SUPERVISOR, "👍"))
    assert "请用文字回复" in harness.last_text(SUPERVISOR)
    assert not any("只能读懂文字命令" in text for text in harness.texts(SUPERVISOR))
