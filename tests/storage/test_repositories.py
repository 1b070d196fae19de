"""Repositories against real databases: upserts, roles, departments, the audit log and UTC times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from storage.db import Database
from storage.models import Chat, Membership
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository
from storage.repositories.departments import DepartmentRepository, DuplicateDepartment
from storage.repositories.people import REACH_RECHECK, PeopleRepository
from storage.repositories.roles import CONTACT, SUPERVISOR, RoleRepository
from tests.storage.statements import Statements

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def test_people_observe_inserts_then_updates_name_language_and_last_seen(db: Database) -> None:
    async with db.transaction() as session:
        await PeopleRepository(session).observe(42, "王芳", "zh-hans", NOW)
    async with db.transaction() as session:
        people = PeopleRepository(session)
        await people.set_private_chat(42, True)
        await people.observe(42, "王芳 (朝阳)", "en", NOW + timedelta(hours=1))
    async with db.transaction() as session:
        person = await PeopleRepository(session).get(42)
    assert person is not None
    assert person.display_name == "王芳 (朝阳)"
    assert person.telegram_language == "en"
    assert person.has_private_chat is True
    assert person.first_seen_at == NOW
    assert person.last_seen_at == NOW + timedelta(hours=1)
    assert person.last_seen_at.tzinfo is not None


async def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as session:
            await PeopleRepository(session).observe(1, "x", None, datetime(2026, 1, 1))


async def test_memberships_and_admin_replacement(db: Database) -> None:
    async with db.transaction() as session:
        people, chats = PeopleRepository(session), ChatRepository(session)
        for person_id in (1, 2, 3):
            await people.observe(person_id, f"p{person_id}", None, NOW)
        await chats.ensure(-100, "社区工作群", "supergroup", NOW)
        await chats.observe_member(-100, 1, NOW)
        await chats.replace_admins(-100, [(2, "creator"), (3, "administrator")], NOW)
    async with db.transaction() as session:
        chats = ChatRepository(session)
        assert await chats.admin_ids(-100) == {2, 3}
        await chats.replace_admins(-100, [(2, "creator")], NOW + timedelta(minutes=5))
    async with db.transaction() as session:
        chats = ChatRepository(session)
        assert await chats.admin_ids(-100) == {2}
        assert await chats.member_status(-100, 3) == "member"
        assert sorted(await chats.known_member_ids(-100)) == [1, 2, 3]
        chat = await chats.get(-100)
        assert chat is not None and chat.admins_synced_at == NOW + timedelta(minutes=5)


async def test_observe_member_keeps_status_unless_given(db: Database) -> None:
    async with db.transaction() as session:
        await PeopleRepository(session).observe(7, "p", None, NOW)
        chats = ChatRepository(session)
        await chats.ensure(-5, "g", "group", NOW)
        await chats.observe_member(-5, 7, NOW, status="administrator")
        await chats.observe_member(-5, 7, NOW + timedelta(minutes=1))
        assert await chats.member_status(-5, 7) == "administrator"
        await chats.observe_member(-5, 7, NOW, status="left")
        assert await chats.member_status(-5, 7) == "left"


async def test_a_member_recorded_as_gone_who_speaks_again_is_back(db: Database) -> None:
    async with db.transaction() as session:
        await PeopleRepository(session).observe(7, "p", None, NOW)
        chats = ChatRepository(session)
        await chats.ensure(-5, "g", "group", NOW)
        for gone in ("left", "kicked"):
            await chats.observe_member(-5, 7, NOW, status=gone)
            await chats.observe_member(-5, 7, NOW + timedelta(minutes=2))
            assert await chats.member_status(-5, 7) == "member"
        await chats.observe_member(-5, 7, NOW, status="restricted")
        await chats.observe_member(-5, 7, NOW + timedelta(minutes=3))
        assert await chats.member_status(-5, 7) == "restricted"
        membership = await session.get(Membership, (-5, 7))
        await session.refresh(membership)
        assert membership.last_seen_at == NOW + timedelta(minutes=3)


async def test_departments_unique_names_and_codes(db: Database) -> None:
    async with db.transaction() as session:
        departments = DepartmentRepository(session)
        civil = await departments.add("民政局", "mz", 3, NOW)
        with pytest.raises(DuplicateDepartment):
            await departments.add("民政局", "mz2", 1, NOW)
        with pytest.raises(DuplicateDepartment):
            await departments.add("民政", "MZ".lower(), 1, NOW)
        await departments.add("卫健委", "wj", 1, NOW)
        with pytest.raises(DuplicateDepartment):
            await departments.rename(civil, "卫健委")
    async with db.transaction() as session:
        departments = DepartmentRepository(session)
        assert [d.name for d in await departments.all()] == ["卫健委", "民政局"]
        found = await departments.find_exact("MZ")
        assert found is not None and found.name == "民政局"
        assert await departments.find_exact("民政") is None


async def test_a_department_added_in_a_failed_transaction_is_gone(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await DepartmentRepository(session).add("民政局", "mz", 1, NOW)
            raise RuntimeError("the reply failed")
    async with db.transaction() as session:
        assert await DepartmentRepository(session).all() == []


async def test_department_names_match_the_same_on_every_backend(db: Database) -> None:
    from policies.departments import normalize_name

    async with db.transaction() as session:
        departments = DepartmentRepository(session, normalize_name)
        await departments.add("Straße Amt", "MZ", 1, NOW)
        assert (await departments.find_exact("ＭＺ")).name == "Straße Amt"
        assert (await departments.find_exact("STRASSE amt")).name == "Straße Amt"
        with pytest.raises(DuplicateDepartment):
            await departments.add("strasse AMT", "x", 1, NOW)


async def test_duplicate_grants_are_all_revoked(db: Database) -> None:
    from storage.models import RoleGrant

    async with db.transaction() as session:
        for _ in range(2):  # what two concurrent /grant commands can leave behind
            session.add(RoleGrant(person_id=9, role=SUPERVISOR, department_id=None, granted_by=1, granted_at=NOW))
    async with db.transaction() as session:
        roles = RoleRepository(session)
        assert await roles.revoke(9, SUPERVISOR) is True
        assert await roles.is_granted_supervisor(9) is False


async def test_member_count_adjusts_atomically_and_never_below_zero(db: Database) -> None:
    async with db.transaction() as session:
        chats = ChatRepository(session)
        await chats.ensure(-3, "g", "group", NOW)
        await chats.set_fields(-3, member_count=2)
        await chats.adjust_member_count(-3, -1)
        await chats.adjust_member_count(-3, -5)
        await chats.adjust_member_count(-3, 1)
    async with db.transaction() as session:
        assert (await session.get(Chat, -3)).member_count == 1


async def test_roles_grant_revoke_and_contacts(db: Database) -> None:
    async with db.transaction() as session:
        department = await DepartmentRepository(session).add("街道办", "jd", 1, NOW)
        roles = RoleRepository(session)
        assert await roles.grant(9, SUPERVISOR, by=1, now=NOW) is True
        assert await roles.grant(9, SUPERVISOR, by=1, now=NOW) is False
        assert await roles.grant(9, CONTACT, by=1, now=NOW, department_id=department.id) is True
    async with db.transaction() as session:
        roles = RoleRepository(session)
        assert await roles.granted_supervisors() == {9}
        assert await roles.contact_department_ids(9) == {department.id}
        assert await roles.revoke(9, SUPERVISOR) is True
        assert await roles.revoke(9, SUPERVISOR) is False
        assert await roles.is_granted_supervisor(9) is False


async def test_group_overview_and_department_counts(db: Database) -> None:
    async with db.transaction() as session:
        department = await DepartmentRepository(session).add("民政局", "mz", 1, NOW)
        chats = ChatRepository(session)
        await chats.ensure(-1, "A", "supergroup", NOW)
        await chats.ensure(-2, "B", "supergroup", NOW + timedelta(hours=1))
        await chats.set_fields(-1, department_id=department.id)
    async with db.transaction() as session:
        chats = ChatRepository(session)
        rows = await chats.overview()
        assert [(row.chat.title, row.department_name) for row in rows] == [("B", None), ("A", "民政局")]
        assert await chats.count_for_department(department.id) == 1


async def test_audit_log_records_in_order(db: Database) -> None:
    async with db.transaction() as session:
        audit = AuditRepository(session)
        await audit.record("dept.add", actor_id=1, now=NOW, target="民政局")
        await audit.record("grant", actor_id=1, now=NOW, target="9", detail={"role": "supervisor"})
    async with db.transaction() as session:
        entries = await AuditRepository(session).recent()
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("grant", "9", {"role": "supervisor"}),
        ("dept.add", "民政局", {}),
    ]


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await ChatRepository(session).ensure(-9, "x", "group", NOW)
            raise RuntimeError("boom")
    async with db.transaction() as session:
        assert await session.get(Chat, -9) is None


async def test_a_snapshot_never_caches_a_change_that_rolls_back(db: Database) -> None:
    async with db.transaction() as session:
        await ChatRepository(session).ensure(-8, "g", "group", NOW)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            chats = ChatRepository(session)
            await chats.set_fields(-8, language="en")
            assert (await chats.snapshot(-8)).language == "en"  # this session sees its change
            raise RuntimeError("rolled back")
    async with db.transaction() as session:
        assert (await ChatRepository(session).snapshot(-8)).language is None


async def test_a_group_seen_again_under_the_same_title_keeps_its_cached_snapshot(db: Database) -> None:
    async with db.transaction() as session:
        await ChatRepository(session).ensure(-7, "网格群", "supergroup", NOW)
    async with db.transaction() as session:
        assert (await ChatRepository(session).snapshot(-7)).title == "网格群"  # cached now
    with Statements(db, "SELECT chats") as reads:
        async with db.transaction() as session:
            chats = ChatRepository(session)
            await chats.ensure_many([(-7, "网格群", "supergroup")], NOW)
            assert (await chats.snapshot(-7)).title == "网格群"
            assert reads == []  # from the cache: only the group's activity changed
            await chats.ensure_many([(-7, "三号网格群", "supergroup")], NOW)
            assert (await chats.snapshot(-7)).title == "三号网格群"
            assert len(reads) == 1


async def test_a_transaction_asks_for_a_persons_contact_departments_once_until_roles_change(db: Database) -> None:
    async with db.transaction() as session:
        first = await DepartmentRepository(session).add("街道办", "jd", 1, NOW)
        second = await DepartmentRepository(session).add("民政局", "mz", 1, NOW)
        await RoleRepository(session).grant(9, CONTACT, by=1, now=NOW, department_id=first.id)
    with Statements(db, "SELECT role_grants") as asked:
        async with db.transaction() as session:
            roles = RoleRepository(session)
            assert await roles.contact_department_ids(9) == {first.id}
            assert await roles.contact_department_ids(9) == {first.id}
            assert len(asked) == 1
            await roles.grant(9, CONTACT, by=1, now=NOW, department_id=second.id)
            await session.flush()
            assert await roles.contact_department_ids(9) == {first.id, second.id}
            await roles.revoke(9, CONTACT, first.id)
            assert await roles.contact_department_ids(9) == {second.id}


async def test_a_grant_is_seen_by_the_next_contact_lookup_of_its_transaction(db: Database) -> None:
    async with db.transaction() as session:
        department = await DepartmentRepository(session).add("街道办", "jd", 1, NOW)
    async with db.transaction() as session:
        roles = RoleRepository(session)
        assert await roles.contact_department_ids(9) == set()
        await roles.grant(9, CONTACT, by=1, now=NOW, department_id=department.id)
        await roles.contact_department_ids(9)  # before the grant is flushed (a miss before the cache too)
        await session.flush()
        assert await roles.contact_department_ids(9) == {department.id}


async def test_a_snapshot_cached_by_another_session_before_a_change_committed_is_dropped_at_its_commit(
    db: Database,
) -> None:
    async with db.transaction() as session:
        await ChatRepository(session).ensure(-6, "g", "group", NOW)
    changed, looked = asyncio.Event(), asyncio.Event()

    async def change() -> None:
        async with db.transaction() as session:
            await ChatRepository(session).set_fields(-6, language="en")
            changed.set()
            await looked.wait()

    async def look() -> None:
        await changed.wait()
        async with db.transaction() as session:
            # The committed row, cached while the change is still open.
            assert (await ChatRepository(session).snapshot(-6)).language is None
        looked.set()

    await asyncio.gather(change(), look())
    async with db.transaction() as session:
        assert (await ChatRepository(session).snapshot(-6)).language == "en"


async def test_people_seen_without_a_private_chat_are_known_unreachable_for_a_while(db: Database) -> None:
    async with db.transaction() as session:
        people = PeopleRepository(session)
        await people.observe(6, "王芳", "zh-hans", NOW)
        await people.set_private_chat(6, True)
    async with db.transaction() as session:
        people = PeopleRepository(session)
        await people.observe_many([(5, "李四", None), (6, "王芳", "zh-hans")], NOW)
        assert people.seen_unreachable(5, NOW) and not people.seen_unreachable(6, NOW)
    async with db.transaction() as session:  # process memory: another transaction knows it too
        people = PeopleRepository(session)
        assert people.seen_unreachable(5, NOW + REACH_RECHECK - timedelta(seconds=1))
        assert not people.seen_unreachable(5, NOW + REACH_RECHECK)  # asked the database again after a while
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await PeopleRepository(session).set_private_chat(5, True)
            raise RuntimeError("the /start failed")
    async with db.transaction() as session:
        assert PeopleRepository(session).seen_unreachable(5, NOW)  # rolled back: still unreachable
        await PeopleRepository(session).set_private_chat(5, True)
    async with db.transaction() as session:
        assert not PeopleRepository(session).seen_unreachable(5, NOW)  # opened here: forgotten at commit
        assert await PeopleRepository(session).claim_tip(5, NOW, timedelta(days=7))


async def test_a_batch_asks_whether_its_demanders_have_a_private_chat_once(db: Database) -> None:
    async with db.transaction() as session:
        people = PeopleRepository(session)
        await people.observe_many([(5, "李四", None), (6, "王芳", None)], NOW)
        await people.set_private_chat(6, True)
    with Statements(db, "SELECT people") as asked:
        async with db.transaction() as session:
            people = PeopleRepository(session)
            await people.know_private_chats([5, 6, 7], NOW)  # 7: never seen
            assert len(asked) == 1
            assert [await people.has_private_chat(user) for user in (5, 6, 7)] == [False, True, False]
            assert len(asked) == 1
            await people.set_private_chat(5, True)  # this transaction's own change is seen
            assert await people.has_private_chat(5)
            assert people.seen_unreachable(7, NOW) is False  # not seen at all: nothing known
        async with db.transaction() as session:
            assert await PeopleRepository(session).has_private_chat(5)  # a new transaction asks
            assert len(asked) == 2


async def test_a_person_named_twice_in_one_sighting_is_written_once_as_last_named(db: Database) -> None:
    async with db.transaction() as session:
        await PeopleRepository(session).observe_many([(5, "李四", None), (5, "李四（二网格）", "zh-hans")], NOW)
    async with db.transaction() as session:
        person = await PeopleRepository(session).get(5)
    assert (person.display_name, person.telegram_language) == ("李四（二网格）", "zh-hans")


async def test_a_read_answered_after_this_process_opened_the_chat_does_not_make_the_person_unreachable(
    db: Database,
) -> None:
    async with db.transaction() as session:
        await PeopleRepository(session).observe(5, "李四", None, NOW)
        await PeopleRepository(session).set_private_chat(5, True)
    async with db.transaction() as session:
        people = PeopleRepository(session)
        # The answer of a read that began before the /start above committed (PostgreSQL).
        people._learn_reach([(5, False)], NOW)
        assert not people.seen_unreachable(5, NOW)
