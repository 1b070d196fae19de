"""Whistle reports on real databases: evidence, lookup by bucket, pages, status moves and batches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import update

from policies.whistle import ScryptCost, code_bucket, hash_code, new_receipt_code, normalize_code, verify_code
from storage.db import Database
from storage.models import Department, Whistle
from storage.repositories.whistles import NewEvidence, WhistleRepository

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TODAY = date(2026, 11, 23)
CHEAP = ScryptCost(n=2**10)
MZ, JY = 7, 8  # 民政局, 教育局


async def add_departments(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Department(id=MZ, name="民政局", code="MZ", created_at=NOW))
        session.add(Department(id=JY, name="教育局", code="JY", created_at=NOW))


async def add(
    db: Database,
    *,
    department_id: int | None = None,
    department_name: str | None = None,
    status: str = "new",
    today: date = TODAY,
    bucket: int = 1,
    code_hash: str = "scrypt$1024$8$1$c2FsdA$aGFzaA",
    evidence: tuple[NewEvidence, ...] = (),
    category: str = "ack_demand",
    description: str = "每天要求回复收到，不回就点名",
) -> int:
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        whistle_id = await repository.add(
            department_id=department_id, department_name=department_name, category=category,
            description=description, evidence=evidence, code_bucket=bucket, code_hash=code_hash, today=today,
        )  # fmt: skip
        if status != "new":
            await session.execute(update(Whistle).where(Whistle.id == whistle_id).values(status=status))
    return whistle_id


async def test_add_keeps_evidence_in_order(db: Database) -> None:
    evidence = (
        NewEvidence("text", text="截图说明"),
        NewEvidence("photo", file_id="AgACAgIAAx0"),
        NewEvidence("document", file_id="BQACAgIAAx0"),
        NewEvidence("text", text="第二段说明"),
    )
    whistle_id = await add(db, department_name="街道办", evidence=evidence, category="data_request")
    other = await add(db, evidence=(NewEvidence("text", text="别的"),))
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        stored = await repository.evidence(whistle_id)
        row = await repository.get(whistle_id)
        assert await repository.evidence(other) != []
        assert await repository.evidence(other + 1000) == []
    assert [(item.position, item.kind, item.file_id, item.text) for item in stored] == [
        (0, "text", None, "截图说明"),
        (1, "photo", "AgACAgIAAx0", None),
        (2, "document", "BQACAgIAAx0", None),
        (3, "text", None, "第二段说明"),
    ]
    assert row is not None
    whistle = row.whistle
    assert (whistle.status, whistle.category, whistle.created_on, whistle.announced) == (
        "new",
        "data_request",
        TODAY,
        False,
    )
    assert whistle.flagged_on is None and whistle.updated_at is None
    assert whistle.description == "每天要求回复收到，不回就点名"


async def test_add_without_evidence(db: Database) -> None:
    whistle_id = await add(db)
    async with db.transaction() as session:
        assert await WhistleRepository(session).evidence(whistle_id) == []


async def test_in_bucket_finds_by_bucket(db: Database) -> None:
    a = await add(db, bucket=5)
    b = await add(db, bucket=5)
    await add(db, bucket=9)
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        assert sorted(w.id for w in await repository.in_bucket(5)) == [a, b]
        assert len(await repository.in_bucket(9)) == 1
        assert await repository.in_bucket(7) == []
        assert await repository.in_bucket(65535) == []


async def test_a_receipt_code_finds_its_report(db: Database) -> None:
    """The whole lookup: bucket of the normalized code, then the slow hash among the candidates."""
    code = new_receipt_code()
    decoy = new_receipt_code()
    bucket = code_bucket(code)
    await add(db, bucket=bucket, code_hash=hash_code(decoy, CHEAP))  # same bucket, other code
    mine = await add(db, bucket=bucket, code_hash=hash_code(code, CHEAP))
    await add(db, bucket=(bucket + 1) % 2**16, code_hash=hash_code(code, CHEAP))
    typed = normalize_code(code.lower().replace("-", " "))
    assert typed == code
    async with db.transaction() as session:
        candidates = await WhistleRepository(session).in_bucket(code_bucket(typed))
    assert len(candidates) == 2
    assert [w.id for w in candidates if verify_code(typed, w.code_hash)] == [mine]
    assert all(code not in w.code_hash for w in candidates)


async def test_get_joins_the_department_name_and_label_falls_back(db: Database) -> None:
    await add_departments(db)
    registered = await add(db, department_id=MZ)
    both = await add(db, department_id=JY, department_name="教育口")
    typed = await add(db, department_name="街道办")
    neither = await add(db)
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        rows = {key: await repository.get(key) for key in (registered, both, typed, neither)}
        assert await repository.get(neither + 1000) is None
    assert (rows[registered].department, rows[registered].department_label) == ("民政局", "民政局")
    assert (rows[both].department, rows[both].department_label) == ("教育局", "教育局")
    assert (rows[typed].department, rows[typed].department_label) == (None, "街道办")
    assert (rows[neither].department, rows[neither].department_label) == (None, "—")
    assert rows[registered].whistle.id == registered


async def test_department_deleted_keeps_the_report(db: Database) -> None:
    await add_departments(db)
    whistle_id = await add(db, department_id=MZ, department_name="民政")
    async with db.transaction() as session:
        await session.delete(await session.get(Department, MZ))
    async with db.transaction() as session:
        row = await WhistleRepository(session).get(whistle_id)
    assert row is not None
    # The foreign key sets NULL on both engines (SQLite runs with PRAGMA foreign_keys=ON).
    assert row.whistle.department_id is None
    assert row.department is None and row.department_label == "民政"


async def test_page_filters_counts_and_pages_newest_first(db: Database) -> None:
    await add_departments(db)
    ids = {
        "mz_new": await add(db, department_id=MZ, status="new"),
        "jy_review": await add(db, department_id=JY, status="review"),
        "mz_rectified": await add(db, department_id=MZ, status="rectified"),
        "typed_forwarded": await add(db, department_name="街道办", status="forwarded"),
        "mz_rejected": await add(db, department_id=MZ, status="rejected"),
        "mz_forwarded": await add(db, department_id=MZ, status="forwarded"),
    }
    name = {value: key for key, value in ids.items()}

    async def page(open_only: bool, department_id: int | None, offset: int = 0, limit: int = 10):
        async with db.transaction() as session:
            rows, total = await WhistleRepository(session).page(
                open_only=open_only, department_id=department_id, offset=offset, limit=limit
            )
        return [name[row.whistle.id] for row in rows], total

    everything = ["mz_forwarded", "mz_rejected", "typed_forwarded", "mz_rectified", "jy_review", "mz_new"]
    assert await page(False, None) == (everything, 6)
    assert await page(True, None) == (["mz_forwarded", "typed_forwarded", "jy_review", "mz_new"], 4)
    assert await page(False, MZ) == (["mz_forwarded", "mz_rejected", "mz_rectified", "mz_new"], 4)
    assert await page(True, MZ) == (["mz_forwarded", "mz_new"], 2)
    assert await page(True, JY) == (["jy_review"], 1)
    assert await page(False, 999) == ([], 0)
    # Paging: the total stays the whole match, the rows are a window of it.
    assert await page(False, None, 0, 2) == (everything[:2], 6)
    assert await page(False, None, 2, 2) == (everything[2:4], 6)
    assert await page(False, None, 4, 2) == (everything[4:], 6)
    assert await page(False, None, 6, 2) == ([], 6)
    assert await page(True, None, 3, 2) == (["mz_new"], 4)
    # The rows carry the department's name for their labels.
    async with db.transaction() as session:
        rows, _ = await WhistleRepository(session).page(open_only=True, department_id=None, offset=0, limit=10)
    assert [row.department_label for row in rows] == ["民政局", "街道办", "教育局", "民政局"]


async def test_page_on_an_empty_table(db: Database) -> None:
    async with db.transaction() as session:
        assert await WhistleRepository(session).page(open_only=True, department_id=None, offset=0, limit=5) == ([], 0)


async def test_move_is_compare_and_set(db: Database) -> None:
    whistle_id = await add(db)
    later = NOW + timedelta(hours=2)
    async with db.transaction() as session:
        assert await WhistleRepository(session).move(whistle_id, "new", "review", NOW) is True
    # A second supervisor pressed the same button from the old status.
    async with db.transaction() as session:
        assert await WhistleRepository(session).move(whistle_id, "new", "review", later) is False
    async with db.transaction() as session:
        assert await WhistleRepository(session).move(whistle_id, "new", "rejected", later) is False
    async with db.transaction() as session:
        row = await WhistleRepository(session).get(whistle_id)
    assert row is not None and row.whistle.status == "review" and row.whistle.updated_at == NOW
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        assert await repository.move(whistle_id, "review", "forwarded", later) is True
        assert await repository.move(whistle_id, "forwarded", "forwarded", later) is True
        assert await repository.move(whistle_id + 1000, "forwarded", "rectified", later) is False
    async with db.transaction() as session:
        row = await WhistleRepository(session).get(whistle_id)
    assert row is not None and row.whistle.status == "forwarded" and row.whistle.updated_at == later


async def test_move_touches_only_its_report(db: Database) -> None:
    first, second = await add(db), await add(db)
    async with db.transaction() as session:
        assert await WhistleRepository(session).move(first, "new", "review", NOW)
    async with db.transaction() as session:
        other = await WhistleRepository(session).get(second)
    assert other is not None and other.whistle.status == "new" and other.whistle.updated_at is None


async def test_respond_and_visible_responses(db: Database) -> None:
    whistle_id = await add(db)
    other = await add(db)
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        await repository.respond(whistle_id, "review", None, NOW)
        await repository.respond(whistle_id, "response", "内部备注：先核实", NOW + timedelta(minutes=1), visible=False)
        await repository.respond(whistle_id, "forwarded", "已转交民政局", NOW + timedelta(minutes=2))
        await repository.respond(other, "response", "别的报告", NOW)
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        every = await repository.responses(whistle_id, visible_only=False)
        visible = await repository.responses(whistle_id, visible_only=True)
        row = await repository.get(whistle_id)
        assert await repository.responses(whistle_id + 1000, visible_only=False) == []
    assert [(r.kind, r.text, r.visible) for r in every] == [
        ("review", None, True),
        ("response", "内部备注：先核实", False),
        ("forwarded", "已转交民政局", True),
    ]
    assert [r.kind for r in visible] == ["review", "forwarded"]
    assert [r.at for r in every] == [NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)]
    # Responding touches the report but leaves its status alone.
    assert row is not None and row.whistle.updated_at == NOW + timedelta(minutes=2) and row.whistle.status == "new"


async def test_responses_at_the_same_moment_keep_insertion_order(db: Database) -> None:
    whistle_id = await add(db)
    async with db.transaction() as session:
        repository = WhistleRepository(session)
        for text in ("一", "二", "三"):
            await repository.respond(whistle_id, "response", text, NOW)
    async with db.transaction() as session:
        responses = await WhistleRepository(session).responses(whistle_id, visible_only=True)
    assert [r.text for r in responses] == ["一", "二", "三"]


async def test_take_unannounced_returns_each_report_once(db: Database) -> None:
    await add_departments(db)
    first = await add(db, department_id=MZ)
    second = await add(db, department_name="街道办")
    async with db.transaction() as session:
        taken = await WhistleRepository(session).take_unannounced()
    assert [row.whistle.id for row in taken] == [first, second]
    assert [row.department_label for row in taken] == ["民政局", "街道办"]
    async with db.transaction() as session:
        assert await WhistleRepository(session).take_unannounced() == []
    third = await add(db)
    async with db.transaction() as session:
        assert [row.whistle.id for row in await WhistleRepository(session).take_unannounced()] == [third]
    async with db.transaction() as session:
        assert await WhistleRepository(session).take_unannounced() == []
        row = await WhistleRepository(session).get(first)
    assert row is not None and row.whistle.announced is True


async def test_take_unannounced_rolled_back_is_taken_again(db: Database) -> None:
    whistle_id = await add(db)

    class Boom(Exception):
        pass

    try:
        async with db.transaction() as session:
            assert [row.whistle.id for row in await WhistleRepository(session).take_unannounced()] == [whistle_id]
            raise Boom
    except Boom:
        pass
    async with db.transaction() as session:
        assert [row.whistle.id for row in await WhistleRepository(session).take_unannounced()] == [whistle_id]


async def test_take_overdue_respects_age_and_status(db: Database) -> None:
    ids = {
        "fresh": await add(db, today=TODAY),
        "exactly_14": await add(db, today=TODAY - timedelta(days=14)),
        "new_15": await add(db, today=TODAY - timedelta(days=15)),
        "review_20": await add(db, today=TODAY - timedelta(days=20), status="review"),
        "forwarded_40": await add(db, today=TODAY - timedelta(days=40), status="forwarded"),
        "rectified_40": await add(db, today=TODAY - timedelta(days=40), status="rectified"),
        "rejected_40": await add(db, today=TODAY - timedelta(days=40), status="rejected"),
    }
    name = {value: key for key, value in ids.items()}
    async with db.transaction() as session:
        taken = await WhistleRepository(session).take_overdue(TODAY, 14)
    assert [name[row.whistle.id] for row in taken] == ["new_15", "review_20", "forwarded_40"]
    async with db.transaction() as session:
        assert await WhistleRepository(session).take_overdue(TODAY, 14) == []
        rows = {key: await WhistleRepository(session).get(value) for key, value in ids.items()}
    flagged = {key: row.whistle.flagged_on for key, row in rows.items() if row is not None}
    assert flagged == {
        "fresh": None,
        "exactly_14": None,
        "new_15": TODAY,
        "review_20": TODAY,
        "forwarded_40": TODAY,
        "rectified_40": None,
        "rejected_40": None,
    }


async def test_take_overdue_uses_open_days(db: Database) -> None:
    three = await add(db, today=TODAY - timedelta(days=3))
    async with db.transaction() as session:
        assert await WhistleRepository(session).take_overdue(TODAY, 3) == []
    async with db.transaction() as session:
        assert [row.whistle.id for row in await WhistleRepository(session).take_overdue(TODAY, 2)] == [three]


async def test_take_overdue_flags_again_only_after_a_week(db: Database) -> None:
    whistle_id = await add(db, today=TODAY - timedelta(days=30))
    async with db.transaction() as session:
        assert [row.whistle.id for row in await WhistleRepository(session).take_overdue(TODAY, 14)] == [whistle_id]
    for days in range(0, 7):
        async with db.transaction() as session:
            assert await WhistleRepository(session).take_overdue(TODAY + timedelta(days=days), 14) == [], days
    week_later = TODAY + timedelta(days=7)
    async with db.transaction() as session:
        assert [row.whistle.id for row in await WhistleRepository(session).take_overdue(week_later, 14)] == [whistle_id]
    async with db.transaction() as session:
        assert await WhistleRepository(session).take_overdue(week_later + timedelta(days=6), 14) == []
        row = await WhistleRepository(session).get(whistle_id)
    assert row is not None and row.whistle.flagged_on == week_later


async def test_take_overdue_stops_once_settled(db: Database) -> None:
    whistle_id = await add(db, today=TODAY - timedelta(days=30), status="forwarded")
    async with db.transaction() as session:
        assert len(await WhistleRepository(session).take_overdue(TODAY, 14)) == 1
    async with db.transaction() as session:
        assert await WhistleRepository(session).move(whistle_id, "forwarded", "rectified", NOW)
    async with db.transaction() as session:
        assert await WhistleRepository(session).take_overdue(TODAY + timedelta(days=30), 14) == []
