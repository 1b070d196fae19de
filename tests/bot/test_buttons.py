"""Button data through the application: rejected in one place with one polite answer, in the
presser's language; old buttons that live long keep working; a refused press is not observed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from policies.callbacks import CARD_ACTIONS, DRAFT_PRESSES, HELD_CHOICES, ReadNotice, decode, encode
from storage.models import Membership, Notice, Person, Read
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, Harness
from tests.bot.test_notices import join

NEWCOMER = 7301
STALE = {
    MEMBER: "这个按钮已失效，请重新发送命令。",
    ENGLISH: "This button no longer works; please send the command again.",
}


async def tracked_notice(harness: Harness) -> tuple[dict[str, Any], int]:
    """A tracked notice posted in the group, and its id."""
    await join(harness)
    await harness.command(GROUP, ADMIN, "/notice 周六上午停水，请提前储水")
    post = harness.fake.sent(GROUP)[-1]
    async with harness.session() as session:
        notice_id = (await session.scalars(select(Notice.id).where(Notice.tracked))).one()
    return post, notice_id


async def press(harness: Harness, user: int, post: dict[str, Any], data: str) -> dict[str, Any]:
    await harness.send(harness.updates.callback(user, GROUP, post["message_id"], data))
    return harness.fake.calls_to("answerCallbackQuery")[-1]


async def reads(harness: Harness) -> list[tuple[int, str]]:
    async with harness.session() as session:
        return [tuple(row) for row in (await session.execute(select(Read.person_id, Read.via))).all()]


@pytest.mark.parametrize(
    "data",
    ["rd0:1", "rd2:1", "zz1:1", "rd1:99999999999", "cv1:99999999999999999999:1", "ib:r:1:0:0:0", "wh:tok:s", "rd1:1:2"],
)
async def test_a_malformed_or_stale_press_gets_one_polite_answer_in_the_pressers_language(
    harness: Harness, data: str
) -> None:
    post, _notice_id = await tracked_notice(harness)
    sent_before = len(harness.fake.sent(GROUP))
    for user, text in STALE.items():
        answered = await press(harness, user, post, data)
        assert answered["text"] == text and answered.get("show_alert") is True
    assert len(harness.fake.sent(GROUP)) == sent_before
    assert await reads(harness) == []


async def test_the_read_button_carries_versioned_data_and_its_old_form_still_counts(harness: Harness) -> None:
    post, notice_id = await tracked_notice(harness)
    assert decode(post["reply_markup"]["inline_keyboard"][0][0]["callback_data"]) == ReadNotice(notice_id)
    # Posted weeks ago, before the codec: `rd:<id>` still records the read.
    answered = await press(harness, MEMBER, post, f"rd:{notice_id}")
    assert answered["text"] == "已记为已读，谢谢！"
    assert await reads(harness) == [(MEMBER, "button")]
    answered = await press(harness, ENGLISH, post, encode(ReadNotice(notice_id)))
    assert answered["text"] == "Recorded as read, thank you!"
    assert sorted(await reads(harness)) == sorted([(MEMBER, "button"), (ENGLISH, "button")])


async def test_a_refused_press_is_not_observed(harness: Harness) -> None:
    """Stopped before the observer: an old whistle button must not note who pressed it."""
    harness.fake.add_user(NEWCOMER, "新人", language_code="zh-hans")
    post, notice_id = await tracked_notice(harness)
    answered = await press(harness, NEWCOMER, post, "wh:oldtoken:c:other")
    assert answered["text"] == STALE[MEMBER]
    assert await known(harness, NEWCOMER) == (False, False)
    await press(harness, NEWCOMER, post, encode(ReadNotice(notice_id)))
    assert await known(harness, NEWCOMER) == (True, True)  # an accepted press is observed as ever


async def known(harness: Harness, user: int) -> tuple[bool, bool]:
    async with harness.session() as session:
        person = await session.get(Person, user)
        member = (await session.scalars(select(Membership).where(Membership.person_id == user))).first()
    return person is not None, member is not None


def test_the_handlers_choices_are_the_codecs() -> None:
    from bot.handlers.notice_command import CHOICES
    from bot.handlers.whistle import PRESSES
    from bot.handlers.whistle_review import ANSWER_BUTTONS

    assert set(CHOICES) == set(HELD_CHOICES)
    assert set(PRESSES) == set(DRAFT_PRESSES)
    assert {"o", "f", *ANSWER_BUTTONS} == set(CARD_ACTIONS)
