"""The digest's figures on a seeded database, against numbers worked out by hand.

The week is 2026-W47 in Asia/Shanghai: Monday 16 November 00:00 to Monday 23 November 00:00
local time, which is 15 November 16:00 to 22 November 16:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from policies.digest import IsoWeek, build_scoreboard, window_for
from storage.db import Database
from storage.models import Chat, Department, Event, Notice
from storage.repositories.departments import DepartmentRepository
from storage.repositories.digest import CHAT, SPECS, DigestRepository
from storage.repositories.events import EventRepository

TZ = ZoneInfo("Asia/Shanghai")
WEEK = IsoWeek(2026, 47)
MZ, JT, WJ = 1, 2, 3


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A November 2026 moment in Shanghai, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ).astimezone(UTC)


def chat(chat_id: int, department: int | None, members: int | None = None, **fields) -> dict:
    row = {
        "id": chat_id, "title": f"g{chat_id}", "type": "supergroup", "department_id": department, "kind": "permanent",
        "state": "active", "settings": {}, "bot_status": "administrator", "bot_rights": {}, "member_count": members,
        "joined_at": local(1, 9), "close_step": 0, "last_activity_at": None, "close_at": None, "closed_at": None,
        "left_at": None,
    }  # fmt: skip
    return row | fields


def event(kind: str, day: int, department: int | None, chat_id: int) -> dict:
    return {
        "kind": kind,
        "day": date(2026, 11, day),
        "department_id": department,
        "chat_id": chat_id,
        "at": local(day, 12),
    }


def notice(number: int, chat_id: int, department: int, kind: str, at: datetime) -> dict:
    return {
        "chat_id": chat_id, "message_id": number, "department_id": department, "text": f"n{number}", "kind": kind,
        "urgent": False, "ack_demand": False, "tracked": False, "posted_at": at,
    }  # fmt: skip


async def seed(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(insert(Department), [
            {"id": MZ, "name": "民政局", "code": "MZ", "internal_units": 1, "contact_chat_id": -200,
             "created_at": local(1, 9)},
            {"id": JT, "name": "交通局", "code": "JT", "internal_units": 1, "contact_chat_id": None,
             "created_at": local(1, 9)},
            {"id": WJ, "name": "卫健委", "code": "WJ", "internal_units": 1, "contact_chat_id": None,
             "created_at": local(1, 9)},
        ])  # fmt: skip
        await connection.execute(insert(Chat), [
            chat(-101, MZ, 11),
            chat(-102, JT, 5),
            chat(-107, None, 3),
            # Temporary groups: open and busy; past its close time; closed during the week; idle.
            chat(-103, MZ, kind="temporary", joined_at=local(10, 9), last_activity_at=local(16, 10)),
            chat(-104, MZ, kind="temporary", state="done", close_at=local(20, 9), last_activity_at=local(19, 9)),
            chat(-105, JT, kind="temporary", state="closed", closed_at=local(19, 9), last_activity_at=local(14, 9)),
            chat(-106, JT, kind="temporary", last_activity_at=local(10, 11)),
            # Never counted: migrated away, or the bot left before the week began.
            chat(-108, MZ, kind="temporary", bot_status="migrated"),
            chat(-109, JT, kind="temporary", bot_status="left", left_at=local(2, 9)),
        ])  # fmt: skip
        await connection.execute(
            insert(Event),
            [
                *[event("ack_removed", 17, MZ, -101)] * 3,
                *[event("ack_removed", 18, JT, -102)] * 6,
                *[event("ack_removed", 19, None, -107)] * 2,
                *[event("ack_demand", 16, MZ, -101)] * 2,
                event("ack_demand", 22, JT, -102),
                *[event("after_hours_notice", 20, JT, -102)] * 2,
                event("duplicate_data_request", 18, JT, -102),
                event("quota_overrun", 19, MZ, -103),
                # The local days either side of the week: the week before, and the week after.
                event("ack_demand", 15, MZ, -101),
                event("ack_demand", 23, MZ, -101),
            ],
        )
        await connection.execute(
            insert(Notice),
            [
                notice(1, -101, MZ, "notice", local(16, 0, 10)),  # just after the week began
                notice(2, -101, MZ, "meeting", local(20, 15)),
                notice(3, -101, MZ, "data_request", local(22, 23, 30)),  # just before it ended
                notice(4, -101, MZ, "notice", local(15, 23, 50)),  # the week before
                notice(5, -101, MZ, "notice", local(23, 0, 5)),  # the week after
                notice(6, -102, JT, "data_request", local(18, 9)),
                notice(7, -102, JT, "data_request", local(18, 10)),
            ],
        )


@pytest.fixture
async def seeded(db: Database) -> Database:
    await seed(db)
    return db


async def figures(db: Database, week: IsoWeek, by: str = "department") -> dict:
    async with db.transaction() as session:
        return await DigestRepository(session).figures(window_for(week, TZ, seconds_per_message=5, idle_days=7), by)


async def test_figures_per_department_match_the_hand_count(seeded: Database) -> None:
    found = await figures(seeded, WEEK)
    assert found[MZ] == {
        "notices": 2, "data_requests": 1, "ack_demands": 2, "acks_removed": 3,
        # 3 removed acks in a group of 11 members (the bot is one): 3 × 10 × 5 s = 2.5 minutes.
        "minutes_saved": pytest.approx(2.5),
        "temp_open": 2, "temp_overdue": 1, "quota_overruns": 1,
    }  # fmt: skip
    assert found[JT] == {
        "data_requests": 2, "duplicate_data_requests": 1, "ack_demands": 1, "acks_removed": 6,
        "minutes_saved": pytest.approx(2.0), "after_hours_notices": 2,
        "temp_open": 1, "temp_overdue": 1, "temp_closed": 1,
    }  # fmt: skip
    assert found[None] == {"acks_removed": 2, "minutes_saved": pytest.approx(2 * 2 * 5 / 60)}
    assert WJ not in found


async def test_the_week_before_is_counted_on_its_own_days(seeded: Database) -> None:
    found = await figures(seeded, WEEK.previous())
    assert found[MZ] == {"notices": 1, "ack_demands": 1, "temp_open": 2}
    # At the end of W46 the closed group was still open and the idle one not yet idle.
    assert found[JT] == {"temp_open": 2}


async def test_figures_per_group_for_the_group_summaries(seeded: Database) -> None:
    found = await figures(seeded, WEEK, CHAT)
    assert found[-101] == {
        "notices": 2,
        "data_requests": 1,
        "ack_demands": 2,
        "acks_removed": 3,
        "minutes_saved": pytest.approx(2.5),
    }
    assert found[-102]["after_hours_notices"] == 2
    assert all("temp_open" not in values for values in found.values())


async def test_the_scoreboard_of_the_seeded_week(seeded: Database) -> None:
    async with seeded.transaction() as session:
        names = await DigestRepository(session).department_names()
    board = build_scoreboard(SPECS, names, await figures(seeded, WEEK), await figures(seeded, WEEK.previous()))
    # 交通局: 2 data requests ×2 + 1 duplicate ×3 + 1 demand ×2 + 2 after hours ×2 + 1 overdue ×3 = 16
    # 民政局: 2 notices ×1 + 1 data request ×2 + 2 demands ×2 + 1 overdue ×3 + 1 overrun ×3 = 14
    assert [(row.name, row.burden, row.burden_change) for row in board.rows] == [
        ("交通局", 16, 16), ("民政局", 14, 11), ("卫健委", 0, 0), ("", 0, 0),
    ]  # fmt: skip
    assert [row.name for row in board.top(3)] == ["交通局", "民政局"]
    # Minutes count as shown, whole per department (2.5, 2.0 and 0.33 show as 2, 2 and 0): the total is their sum.
    assert board.totals["acks_removed"] == 11 and board.totals["minutes_saved"] == 4
    assert board.totals["minutes_saved"] == sum(row.value("minutes_saved") for row in board.rows)


async def test_a_week_in_progress_counts_until_now(seeded: Database) -> None:
    now = local(18, 12)
    async with seeded.transaction() as session:
        found = await DigestRepository(session).figures(
            window_for(WEEK, TZ, now=now, seconds_per_message=5), "department"
        )
    assert found[MZ]["notices"] == 1 and "data_requests" not in found[MZ]
    # Events are counted by local day: all of today's so far.
    assert found[JT]["acks_removed"] == 6


async def test_recipients_of_the_digest(seeded: Database) -> None:
    async with seeded.transaction() as session:
        await session.execute(
            Chat.__table__.update().where(Chat.id.in_([-101, -105, -109])).values(settings={"digest": "on"})
        )
    async with seeded.transaction() as session:
        digest = DigestRepository(session)
        # -105 is closed and the bot left -109: only -101 still gets its summary.
        assert await digest.opted_in_groups() == [-101]
        assert await digest.contact_chats() == {MZ: -200}


async def test_formalism_demands_are_figures_per_department_and_group_weighing_2(seeded: Database) -> None:
    async with seeded.engine.begin() as connection:
        await connection.execute(insert(Event), [
            *[event("formalism_checkin", 17, WJ, -101)] * 2,
            event("formalism_photo_proof", 18, WJ, -101),
            event("formalism_promotion", 22, WJ, -101),
            event("formalism_instant_reply", 23, WJ, -101),  # the week after
            # The once-per-message reminder marker counts nowhere.
            *[event("formalism_reminded", 17, WJ, -101)] * 3,
        ])  # fmt: skip
    found = await figures(seeded, WEEK)
    assert found[WJ] == {"formalism_checkin": 2, "formalism_photo_proof": 1, "formalism_promotion": 1}
    per_group = (await figures(seeded, WEEK, CHAT))[-101]
    assert {name: value for name, value in per_group.items() if name.startswith("formalism")} == found[WJ]
    async with seeded.transaction() as session:
        names = await DigestRepository(session).department_names()
    board = build_scoreboard(SPECS, names, found, await figures(seeded, WEEK.previous()))
    assert board.row(WJ).burden == 2 * (2 + 1 + 1)


async def test_facts_recorded_later_count_in_their_transaction_and_only_once_committed(seeded: Database) -> None:
    window = window_for(WEEK, TZ, seconds_per_message=5, idle_days=7)
    demand = event("ack_demand", 17, MZ, -101) | {"key": "ack_demand:-101:9001"}
    with pytest.raises(RuntimeError):
        async with seeded.transaction() as session:
            EventRepository(session).record_later(demand)
            raise RuntimeError("the batch failed")
    async with seeded.transaction() as session:
        events = EventRepository(session)
        events.record_later(demand)
        events.record_later(demand)  # the same key twice: counted once
        assert await events.exists("ack_demand:-101:9001")
        assert (await DigestRepository(session).figures(window))[MZ]["ack_demands"] == 3
        events.record_later(event("ack_demand", 18, MZ, -101) | {"key": "ack_demand:-101:9002"})
    assert (await figures(seeded, WEEK))[MZ]["ack_demands"] == 4


async def test_a_department_removed_after_a_fact_counted_against_it_in_one_transaction(seeded: Database) -> None:
    async with seeded.transaction() as session:
        EventRepository(session).record_later(event("ack_demand", 17, WJ, -103) | {"key": "ack_demand:-103:1"})
        department = await session.get(Department, WJ)
        await DepartmentRepository(session).remove(department)
    async with seeded.transaction() as session:
        kept = (await session.scalars(select(Event).where(Event.key == "ack_demand:-103:1"))).one()
    assert kept.department_id is None  # detached with the department, not refused at the commit
