"""Membership is learned from messages, member updates and reactions; edits never re-run commands."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from storage.models import AuditEntry, Chat, Department, Membership, Person
from storage.repositories.chats import ChatRepository
from storage.repositories.departments import DepartmentRepository
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness


async def memberships(harness: Harness) -> dict[int, str]:
    async with harness.session() as session:
        rows = await session.execute(select(Membership.person_id, Membership.status).where(Membership.chat_id == GROUP))
        return dict(rows.all())


async def test_a_group_message_records_person_group_membership_and_activity(harness: Harness) -> None:
    harness.clock.advance(timedelta(minutes=5))
    await harness.send(harness.updates.message(GROUP, MEMBER, "大家好"))
    async with harness.session() as session:
        person = await session.get(Person, MEMBER)
        chat = await session.get(Chat, GROUP)
    assert person.display_name == "张三" and person.has_private_chat is False
    assert chat.title == "朝阳社区工作群" and chat.last_activity_at == harness.clock()
    assert await memberships(harness) == {MEMBER: "member"}


async def test_a_person_seen_in_a_second_group_within_the_minute_joins_it_too(harness: Harness) -> None:
    other = -1009999000002
    harness.fake.add_group(other, "第二网格群", creator_id=ADMIN, members=[MEMBER])
    await harness.send(harness.updates.message(GROUP, MEMBER, "大家好"))
    harness.clock.advance(timedelta(seconds=10))
    await harness.send(harness.updates.message(other, MEMBER, "大家好"))
    async with harness.session() as session:
        rows = await session.execute(select(Membership.chat_id).where(Membership.person_id == MEMBER))
        chat = await session.get(Chat, other)
    assert set(rows.scalars()) == {GROUP, other}
    assert chat is not None and chat.title == "第二网格群"


async def test_reactions_and_member_updates_teach_membership(harness: Harness) -> None:
    said = harness.updates.message(GROUP, MEMBER, "通知")
    await harness.send(said)
    await harness.send(harness.updates.reaction(GROUP, said.message.message_id, ENGLISH, new=("👍",)))
    await harness.send(harness.updates.chat_member(GROUP, STRANGER, old="member", new="left"))
    await harness.send(harness.updates.chat_member(GROUP, ADMIN, old="member", new="creator"))
    assert await memberships(harness) == {MEMBER: "member", ENGLISH: "member", STRANGER: "left", ADMIN: "creator"}


async def test_member_count_follows_joins_and_leaves(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).member_count == 5
    await harness.send(harness.updates.chat_member(GROUP, STRANGER, old="member", new="left"))
    await harness.send(harness.updates.chat_member(GROUP, SUPERVISOR, old="left", new="member"))
    await harness.send(harness.updates.chat_member(GROUP, MEMBER, old="member", new="kicked"))
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).member_count == 4


async def test_an_edited_command_is_not_run_again(harness: Harness) -> None:
    sent = harness.updates.private(SUPERVISOR, "/dept add 民政局")
    await harness.send(sent)
    await harness.send(
        harness.updates.edited(SUPERVISOR, sent.message.message_id, "/dept add 卫健委", user_id=SUPERVISOR)
    )
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Department)) == 1


async def test_long_user_input_echoed_back_is_cut_to_fit(harness: Harness) -> None:
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.command(GROUP, ADMIN, "/register " + "很" * 3000)
    answer = harness.last_text(GROUP)
    assert "…" in answer and len(answer) < 600


async def test_a_group_upgraded_to_a_supergroup_keeps_its_registration(harness: Harness) -> None:
    old, new = -4242, -1009999000001
    harness.fake.add_group(old, "老群", creator_id=ADMIN, members=[MEMBER], type="group")
    await harness.send(harness.updates.my_chat_member(old, ADMIN, old="left", new="member"))
    await harness.send(harness.updates.message(old, MEMBER, "大家好"))
    async with harness.session() as session:
        department = await DepartmentRepository(session).add("民政局", "mz", 1, harness.clock())
        await ChatRepository(session).set_fields(old, department_id=department.id, settings={"received": "record"})
    harness.fake.add_group(new, "老群", creator_id=ADMIN, members=[MEMBER])
    service = harness.updates.message(new, ADMIN, "").message.to_dict()
    service.pop("text", None)
    service["migrate_from_chat_id"] = old
    for update_id in (9001, 9002):  # Telegram may deliver it twice; the second is a no-op
        await harness.send(Update.de_json({"update_id": update_id, "message": service}, harness.app.bot))
    async with harness.session() as session:
        moved, gone = await session.get(Chat, new), await session.get(Chat, old)
        members = set(await session.scalars(select(Membership.person_id).where(Membership.chat_id == new)))
        audits = list(await session.scalars(select(AuditEntry.action)))
    assert (moved.department_id, moved.settings, moved.type) == (department.id, {"received": "record"}, "supergroup")
    assert gone.bot_status == "migrated"
    assert MEMBER in members
    assert audits.count("chat.migrate") == 1


async def test_after_a_failed_commit_the_group_and_member_are_written_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_commit = AsyncSession.commit

    async def failing_commit(self: AsyncSession) -> None:
        monkeypatch.setattr(AsyncSession, "commit", real_commit)
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    other = -1009999000003
    harness.fake.add_group(other, "第三网格群", creator_id=ADMIN, members=[MEMBER])
    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    with caplog.at_level(logging.ERROR):
        # The failure is logged, not raised: raised, it would end PTB's update fetcher.
        await harness.send(harness.updates.message(other, MEMBER, "大家好"))
    assert any(
        "could not be committed" in record.getMessage() and "OperationalError" in record.getMessage()
        for record in caplog.records
    )
    harness.clock.advance(timedelta(seconds=5))
    # Nothing of the first message was kept, so the second writes the group and the membership.
    await harness.send(harness.updates.message(other, MEMBER, "在吗"))
    async with harness.session() as session:
        assert await session.get(Chat, other) is not None
        assert await session.get(Membership, (other, MEMBER)) is not None


async def test_what_updates_recorded_together_look_up_is_written_or_read_in_one_statement_per_table(
    harness: Harness,
) -> None:
    other = -1009999000002
    harness.fake.add_group(other, "第二网格群", creator_id=ADMIN, members=[MEMBER, STRANGER])
    await harness.send(harness.updates.message(GROUP, MEMBER, "早"))  # remembered, then out of date
    harness.clock.advance(timedelta(minutes=5))
    batch = [
        harness.updates.message(GROUP, MEMBER, "大家好"),
        harness.updates.message(GROUP, STRANGER, "收到"),
        harness.updates.message(other, MEMBER, "好的"),
        harness.updates.message(other, STRANGER, "明白"),
        harness.updates.message(GROUP, MEMBER, "再说一句"),  # seen moments ago: not written again
        harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账"),
        harness.updates.message(other, STRANGER, "#通知 周六停水"),
    ]
    written: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        for table in ("people", "chats", "memberships"):
            if statement.startswith(f"INSERT INTO {table} "):
                written.append(table)
        if statement.startswith("SELECT role_grants"):
            written.append("contacts asked")  # the notices' department: their sender's

    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", note)
    try:
        assert await harness.app.record_together(batch) is not None
    finally:
        event.remove(harness.db.engine.sync_engine, "before_cursor_execute", note)
    assert sorted(written) == ["chats", "contacts asked", "memberships", "people"]
    async with harness.session() as session:
        rows = await session.execute(select(Membership.chat_id, Membership.person_id))
        people = {person.id: person for person in (await session.scalars(select(Person))).all()}
        chat = await session.get(Chat, other)
    assert set(rows.all()) >= {(GROUP, MEMBER), (GROUP, STRANGER), (other, MEMBER), (other, STRANGER)}
    assert people[MEMBER].display_name == "张三" and people[MEMBER].last_seen_at == harness.clock()
    assert chat is not None and chat.title == "第二网格群" and chat.last_activity_at == harness.clock()
