"""Replay's in-memory copy finder links every notice to the same original the database look-up does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from policies.duplicates import CopyFinder, bands, fingerprint
from storage.db import Database
from storage.models import Chat, Notice
from storage.repositories.notices import NoticeRepository

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)
BASES = [
    ("data_request", "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人王芳，电话0510-12345678。"),
    ("data_request", "请各网格本周五前填报消防隐患排查表，并将汇总表上报街道应急办。"),
    ("notice", "#通知 周六上午8:00-12:00停水，请提前储水。"),
    ("meeting", "【会议通知】下周一下午3点召开安全生产例会，地点：街道三楼。"),
]


def variant(rng: random.Random, text: str) -> str:
    """The same notice again, a near-copy (a contact changed), or punctuation and width changed."""
    choice = rng.random()
    if choice < 0.4:
        return text
    if choice < 0.6:
        return text.replace("，", ",").replace("。", "！")
    if choice < 0.85:
        return text.replace("王芳", "李明").replace("本周五", "下周一")
    return text + f"（补充第{rng.randint(1, 9)}条）"


async def test_the_finder_and_the_database_agree_on_every_original(db: Database) -> None:
    rng = random.Random(5)
    chats = [-1000 - number for number in range(5)]
    async with db.transaction() as session:
        for chat in chats:
            session.add(Chat(id=chat, title=str(chat), type="supergroup", settings={}, bot_rights={}, joined_at=START))
    finder, moment, agreed = CopyFinder(WINDOW), START, 0
    for message_id in range(1, 121):
        moment += timedelta(hours=rng.choice([1, 5, 30, 70]))
        kind, base = rng.choice(BASES)
        text, chat = variant(rng, base), rng.choice(chats)
        async with db.transaction() as session:
            notices = NoticeRepository(session)
            notice = Notice(chat_id=chat, message_id=message_id, text=text, kind=kind, urgent=False, ack_demand=False,
                            tracked=False, posted_at=moment, fingerprint=fingerprint(text))  # fmt: skip
            notice.band_0, notice.band_1, notice.band_2, notice.band_3 = bands(text)
            await notices.add(notice)
            original = await notices.find_original(notice, moment - WINDOW)
            notice.duplicate_of = original.id if original else None
            found = finder.add(notice.id, chat, moment, kind, text, None)
        assert (found.key if found else None) == (original.id if original else None), (message_id, text)
        agreed += original is not None
    # The sequence holds plenty of copies and near-copies, not only originals.
    assert agreed > 30
