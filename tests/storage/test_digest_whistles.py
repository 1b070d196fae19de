"""The digest's whistle figures (new, open at the week's end, open too long, rectified) on a
seeded database, against a hand count. The week is 2026-W47 in Asia/Shanghai (16–22 November)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert

from policies.digest import IsoWeek, window_for
from storage.db import Database
from storage.models import Department, Whistle, WhistleResponse
from storage.repositories.digest import DigestRepository
from tests.storage.test_digest_figures import TZ, local

WEEK = IsoWeek(2026, 47)
MZ, JT, WJ = 1, 2, 3


def whistle(whistle_id: int, department: int | None, day: int, month: int = 11) -> dict:
    return {
        "id": whistle_id, "department_id": department, "department_name": None if department else "打字的部门",
        "category": "other", "description": "d" * 20, "status": "new", "created_on": date(2026, month, day),
        "code_bucket": 0, "code_hash": "scrypt$x", "announced": True,
    }  # fmt: skip


def settled(whistle_id: int, kind: str, day: int) -> dict:
    return {"whistle_id": whistle_id, "kind": kind, "text": "t", "visible": True, "at": local(day, 12)}


@pytest.fixture
async def seeded(db: Database) -> Database:
    async with db.engine.begin() as connection:
        await connection.execute(insert(Department), [
            {"id": number, "name": name, "code": name, "internal_units": 1, "created_at": local(1, 9)}
            for number, name in ((MZ, "民政局"), (JT, "交通局"), (WJ, "卫健委"))
        ])  # fmt: skip
        await connection.execute(
            insert(Whistle),
            [
                whistle(1, WJ, 17),  # new this week, open
                whistle(2, WJ, 1),  # open since 1 November: more than 14 days at the week's end
                whistle(3, MZ, 2),  # rectified during the week: neither open nor overdue
                whistle(4, MZ, 20),  # new this week, rejected the next day
                whistle(5, MZ, 23),  # the week after
                whistle(6, JT, 10),  # open at the week's end (rectified only after it), 13 days old
                whistle(7, None, 16),  # a typed, unregistered department: new and open
            ],
        )
        await connection.execute(insert(WhistleResponse), [
            settled(3, "rectified", 18), settled(4, "rejected", 21), settled(6, "rectified", 24),
            {"whistle_id": 1, "kind": "response", "text": "t", "visible": True, "at": local(18, 9)},
        ])  # fmt: skip
    return db


async def test_whistle_figures_per_department_match_the_hand_count(seeded: Database) -> None:
    async with seeded.transaction() as session:
        found = await DigestRepository(session).figures(window_for(WEEK, TZ, whistle_open_days=14), "department")
    whistles = {
        department: {k: v for k, v in figures.items() if k.startswith("whistles")}
        for department, figures in found.items()
    }
    assert whistles == {
        WJ: {"whistles_new": 1, "whistles_open": 2, "whistles_overdue": 1},
        MZ: {"whistles_new": 1, "whistles_rectified": 1},
        JT: {"whistles_open": 1},
        None: {"whistles_new": 1, "whistles_open": 1},
    }


async def test_whistle_figures_are_not_counted_per_group(seeded: Database) -> None:
    async with seeded.transaction() as session:
        found = await DigestRepository(session).figures(window_for(WEEK, TZ), "chat")
    assert not any(key.startswith("whistles") for figures in found.values() for key in figures)


async def test_a_week_in_progress_leaves_out_todays_reports(seeded: Database) -> None:
    # Friday 20 November, 10:00: report 4 was submitted today and waits for its batch.
    window = window_for(WEEK, TZ, now=local(20, 10), whistle_open_days=14)
    async with seeded.transaction() as session:
        found = await DigestRepository(session).figures(window, "department")
    assert found[WJ]["whistles_new"] == 1 and "whistles_new" not in found.get(MZ, {})


def test_whistle_figures_weigh_nothing_and_stay_off_department_cards() -> None:
    from storage.repositories.digest import FIGURE_SOURCES

    whistles = [source for source in FIGURE_SOURCES if source.name.startswith("whistles")]
    assert len(whistles) == 4
    assert all(
        source.spec.weight == 0 and not source.on_department_card and not source.per_group for source in whistles
    )
