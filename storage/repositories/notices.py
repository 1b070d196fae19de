"""Notices and the reads of any group message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, make_transient_to_detached

from policies.duplicates import MAX_CANDIDATES, near_copy, shingles
from storage.models import Chat, Department, Membership, Notice, Read
from storage.repositories._sql import (
    DeferredRows,
    cached_statement,
    constant_defaults,
    core_execute,
    insert_for,
    insert_rows,
    rows_parameters,
    unasked,
)

PRESENT = ("creator", "administrator", "member", "restricted")
# Columns a new notice's INSERT takes from the object (its id comes from the database).
_WRITABLE = tuple(column.key for column in Notice.__table__.columns if column.key not in ("id", "duplicate_of"))
_DEFAULTS = constant_defaults(Notice.__table__)
# session.info key: chat -> (since, the latest notice since then) as this transaction read it.
LATEST_KEY = "jianfu.latest_notice"


class RecentNotice(NamedTuple):
    """What an unreplied ack needs to know about the latest notice before it."""

    message_id: int
    text: str
    urgent: bool
    tracked: bool
    posted_at: datetime


class NoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, notice: Notice) -> Notice:
        """Store a notice once; storing the same message again (an edit) updates what it says."""
        self._forget_latest(notice.chat_id)
        existing = await self.by_message(notice.chat_id, notice.message_id)
        if existing is not None:
            existing.text, existing.kind = notice.text, notice.kind
            existing.urgent, existing.ack_demand = notice.urgent, notice.ack_demand
            existing.deadline_at = notice.deadline_at
            existing.fingerprint = notice.fingerprint
            existing.band_0, existing.band_1, existing.band_2, existing.band_3 = (
                notice.band_0,
                notice.band_1,
                notice.band_2,
                notice.band_3,
            )
            await self.session.flush()
            return existing
        self.session.add(notice)
        await self.session.flush()
        return notice

    async def get(self, notice_id: int) -> Notice | None:
        return await self.session.get(Notice, notice_id)

    async def by_message(self, chat_id: int, message_id: int) -> Notice | None:
        query = cached_statement(self.session, "notices.by_message", _by_message)
        return (await self.session.scalars(query, {"chat_id": chat_id, "message_id": message_id})).first()

    async def of_chat(self, chat_id: int) -> list[Notice]:
        """The group's notices, oldest first (a tracked repost stands for its original)."""
        query = select(Notice).where(Notice.chat_id == chat_id).order_by(Notice.posted_at, Notice.id)
        notices = list(await self.session.scalars(query))
        reposted = {notice.text for notice in notices if notice.tracked}
        return [notice for notice in notices if notice.tracked or notice.text not in reposted]

    async def add_posted(self, notice: Notice, copies_since: datetime) -> tuple[Notice, int | None]:
        """Store a notice whose message was just posted, linked to the earliest other-group notice
        of the same text since `copies_since` (find_original's exact copy), in one INSERT that
        also answers that copy's department: (the stored notice, that department).

        No lookup of the message's own row: there is one only when an edit of the message was
        handled first (webhook deliveries can come out of order); then that row, with the
        edit's newer words, stays and is returned instead (and no department)."""
        for key in _WRITABLE:  # every column known, so nothing is loaded again later
            setattr(notice, key, _value_or_default(notice, key))
        parameters = {key: getattr(notice, key) for key in _WRITABLE}
        parameters |= {"copy_chat": notice.chat_id, "copy_since": copies_since, "copy_fingerprint": notice.fingerprint}
        statement = cached_statement(self.session, "notices.add_posted", _insert_linked)
        row = (await core_execute(self.session, statement, parameters)).first()
        if row is None:
            stored = await self.by_message(notice.chat_id, notice.message_id)
            if stored is None:
                raise LookupError(f"notice of message {notice.chat_id}:{notice.message_id} vanished")
            return stored, None
        notice.id, notice.duplicate_of, copied_department = row
        # Its row went in through the connection: the session takes it as a row it loaded.
        make_transient_to_detached(notice)
        self.session.add(notice)
        self._note_posted_as_latest(notice)
        return notice, copied_department

    async def find_original(self, notice: Notice, since: datetime) -> Notice | None:
        """The earliest other-group notice since `since` that `notice` copies: the same text, or
        (for data requests) a near-copy. Follows links, so everything points at the first."""
        # Every notice stored asks for an exact copy: that statement is built once.
        exact = cached_statement(self.session, "notices.same_text", _same_text)
        parameters = {"chat_id": notice.chat_id, "since": since, "fingerprint": notice.fingerprint}
        same = (await self.session.scalars(exact, parameters)).first()
        if same is not None or notice.kind != "data_request":
            return same
        return await self.find_near_copy(notice, since)

    async def find_near_copy(self, notice: Notice, since: datetime) -> Notice | None:
        """The earliest other-group data request since `since` that `notice` nearly copies."""
        candidates = _copy_candidates(notice.chat_id, since)
        banded = candidates.where(
            Notice.kind == "data_request",
            or_(
                Notice.band_0 == notice.band_0,
                Notice.band_1 == notice.band_1,
                Notice.band_2 == notice.band_2,
                Notice.band_3 == notice.band_3,
            ),
        )
        mine = shingles(notice.text)
        for candidate in await self.session.scalars(banded.order_by(Notice.posted_at, Notice.id).limit(MAX_CANDIDATES)):
            if near_copy(mine, candidate.text):
                return candidate
        return None

    async def copies_in_chats_of(self, notice_id: int, person_id: int) -> list[Notice]:
        """The duplicates of a notice in the groups `person_id` belongs to."""
        query = (
            select(Notice)
            .join(Membership, and_(Membership.chat_id == Notice.chat_id, Membership.person_id == person_id))
            .where(Notice.duplicate_of == notice_id, Membership.status.in_(PRESENT))
        )
        return list(await self.session.scalars(query))

    async def remove(self, notice: Notice) -> None:
        self._forget_latest(notice.chat_id)
        await self.session.delete(notice)

    async def latest_since(self, chat_id: int, since: datetime) -> RecentNotice | None:
        """The newest notice posted in the chat at or after `since`. Every unreplied ack asks,
        so it is a plain row of what the "received" rule needs, not an ORM object; and a
        transaction asks the database once per chat (a busy group's batch holds several such
        acks), until it stores a notice of that chat."""
        known = self.session.info.setdefault(LATEST_KEY, {})
        if chat_id in known:
            asked_since, latest = known[chat_id]
            # The newest since an earlier moment is the newest since any later one it is within.
            if latest.posted_at >= since if latest is not None else since >= asked_since:
                return latest
        query = cached_statement(self.session, "notices.latest_since", _latest_since)
        row = (await core_execute(self.session, query, {"chat_id": chat_id, "since": since})).first()
        latest = RecentNotice(*row) if row is not None else None
        known[chat_id] = (since, latest)
        return latest

    async def know_latest(self, chat_ids: Iterable[int], since: datetime) -> None:
        """Read the newest notice since `since` of each of these groups in one query, for this
        transaction's later `latest_since` (a batch's groups, before their updates run)."""
        known, wanted = unasked(self.session, LATEST_KEY, chat_ids)
        if not wanted:
            return
        query = cached_statement(self.session, "notices.latest_of_chats", _latest_of_chats)
        found = {
            row[0]: RecentNotice(*row[1:])
            for row in await core_execute(self.session, query, {"chats": wanted, "since": since})
        }
        known.update((chat_id, (since, found.get(chat_id))) for chat_id in wanted)

    def _note_posted_as_latest(self, notice: Notice) -> None:
        """A notice just posted is the newest of its group since this transaction last asked,
        if nothing that asking found is newer: an ack after it in the same batch asks nothing.
        (Without an earlier answer nothing is known: a tracked notice's post may be newer.)"""
        known = self.session.info.setdefault(LATEST_KEY, {})
        asked_since, latest = known.pop(notice.chat_id, (None, None))
        if asked_since is None or notice.message_id is None or notice.posted_at < asked_since:
            return
        if latest is not None and latest.posted_at > notice.posted_at:
            return
        recent = RecentNotice(
            notice.message_id, notice.text, bool(notice.urgent), bool(notice.tracked), notice.posted_at
        )
        known[notice.chat_id] = (asked_since, recent)

    def _forget_latest(self, chat_id: int) -> None:
        self.session.info.get(LATEST_KEY, {}).pop(chat_id, None)

    async def set_message(self, notice_id: int, message_id: int) -> bool:
        """Tie a tracked notice to its posted message, once (the post's answer, or a press on it)."""
        self.session.info.pop(LATEST_KEY, None)  # its group is not known here: forget them all
        statement = (
            update(Notice)
            .where(Notice.id == notice_id, Notice.message_id.is_(None))
            .values(message_id=message_id)
            .execution_options(synchronize_session="fetch")
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def mark_counter_edited(self, notice_id: int, at: datetime) -> None:
        await self.session.execute(update(Notice).where(Notice.id == notice_id).values(counter_edited_at=at))


def _copy_candidates(chat_id: Any, since: Any) -> Any:
    """Notices of other groups since `since` that are not copies themselves (a notice's own row
    is in its own group, so it may be asked before or after it is stored)."""
    return select(Notice).where(Notice.chat_id != chat_id, Notice.posted_at >= since, Notice.duplicate_of.is_(None))


def _same_text(_session: AsyncSession) -> Any:
    candidates = _copy_candidates(bindparam("chat_id"), bindparam("since"))
    return (
        candidates.where(Notice.fingerprint == bindparam("fingerprint")).order_by(Notice.posted_at, Notice.id).limit(1)
    )


def _value_or_default(notice: Notice, key: str) -> Any:
    value = getattr(notice, key)
    return _DEFAULTS.get(key) if value is None else value


def _insert_linked(session: AsyncSession) -> Any:
    """A new notice's INSERT whose duplicate_of is `_same_text`'s answer (its id, or NULL),
    returning its id, that answer and the copied notice's department."""
    other = aliased(Notice)  # not the row being inserted: the table read while it is written
    first_copy = (
        select(other.id)
        .where(other.chat_id != bindparam("copy_chat"), other.posted_at >= bindparam("copy_since"))
        .where(other.duplicate_of.is_(None), other.fingerprint == bindparam("copy_fingerprint"))
        .order_by(other.posted_at, other.id)
        .limit(1)
        .scalar_subquery()
    )
    table = Notice.__table__
    values = {key: bindparam(key, type_=table.columns[key].type) for key in _WRITABLE}
    copied = aliased(Notice)
    # Named in full: in RETURNING, SQLAlchemy writes the new row's columns unqualified, which the
    # subquery would take for its own (on SQLite it writes the subquery's own columns unqualified
    # too, which its innermost scope resolves to the copy, as meant).
    new_row_link = literal_column(f"{Notice.__tablename__}.duplicate_of")
    copied_department = select(copied.department_id).where(copied.id == new_row_link).scalar_subquery()
    statement = insert_for(session, Notice).values({**values, "duplicate_of": first_copy})
    statement = statement.on_conflict_do_nothing(index_elements=["chat_id", "message_id"])
    return statement.returning(table.c.id, table.c.duplicate_of, copied_department)


def _by_message(_session: AsyncSession) -> Any:
    return select(Notice).where(Notice.chat_id == bindparam("chat_id"), Notice.message_id == bindparam("message_id"))


def _latest_of_chats(_session: AsyncSession) -> Any:
    """`_latest_since` for several groups at once: each group's notices ranked newest first."""
    newest_first = (Notice.posted_at.desc(), Notice.id.desc())
    ranked = (
        select(
            Notice.chat_id,
            Notice.message_id,
            Notice.text,
            Notice.urgent,
            Notice.tracked,
            Notice.posted_at,
            func.row_number().over(partition_by=Notice.chat_id, order_by=newest_first).label("rank"),
        )
        .where(Notice.chat_id.in_(bindparam("chats", expanding=True)), Notice.posted_at >= bindparam("since"))
        .where(Notice.message_id.is_not(None))
        .subquery()
    )
    columns = ranked.c
    return select(
        columns.chat_id, columns.message_id, columns.text, columns.urgent, columns.tracked, columns.posted_at
    ).where(columns.rank == 1)


def _latest_since(_session: AsyncSession) -> Any:
    return (
        select(Notice.message_id, Notice.text, Notice.urgent, Notice.tracked, Notice.posted_at)
        .where(Notice.chat_id == bindparam("chat_id"), Notice.posted_at >= bindparam("since"))
        # A tracked notice still being posted has no message an ack could answer yet.
        .where(Notice.message_id.is_not(None))
        .order_by(Notice.posted_at.desc(), Notice.id.desc())
        .limit(1)
    )


class ReadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, chat_id: int, message_id: int, person_id: int, via: str, at: datetime) -> bool:
        """Record a read once; True when it is new (a second path never counts twice)."""
        await pending_reads.write(self.session)
        statement = cached_statement(self.session, "reads.record", _insert_read)
        parameters = rows_parameters(self.session, [_read_row(chat_id, message_id, person_id, via, at)])
        return (await core_execute(self.session, statement, parameters)).rowcount == 1

    def record_later(self, chat_id: int, message_id: int, person_id: int, via: str, at: datetime) -> None:
        """`record` for a caller that need not learn whether the read is new: written with the
        transaction's other such reads in one statement, before it commits or before anything
        in it asks about reads (every query here, and the inbox's, writes them first)."""
        pending_reads.add(self.session, _read_row(chat_id, message_id, person_id, via, at))

    async def carry_over(self, chat_id: int, from_message: int, to_message: int) -> None:
        """Reads of a message count for its repost too (a demand turned into a tracked notice)."""
        await pending_reads.write(self.session)
        for read in (
            await self.session.scalars(select(Read).where(Read.chat_id == chat_id, Read.message_id == from_message))
        ).all():
            await self.record(chat_id, to_message, read.person_id, read.via, read.read_at)

    async def count(self, chat_id: int, message_id: int) -> int:
        await pending_reads.write(self.session)
        query = select(func.count()).select_from(Read).where(Read.chat_id == chat_id, Read.message_id == message_id)
        return int(await self.session.scalar(query) or 0)

    async def counts(self, chat_id: int) -> dict[int, int]:
        """Reads per message of a group, in one query (for a closing group's summary)."""
        await pending_reads.write(self.session)
        query = select(Read.message_id, func.count()).where(Read.chat_id == chat_id).group_by(Read.message_id)
        return {message_id: int(count) for message_id, count in (await self.session.execute(query)).all()}

    async def readers(self, chat_id: int, message_id: int) -> set[int]:
        await pending_reads.write(self.session)
        query = select(Read.person_id).where(Read.chat_id == chat_id, Read.message_id == message_id)
        return set(await self.session.scalars(query))


def _read_row(chat_id: int, message_id: int, person_id: int, via: str, at: datetime) -> dict[str, Any]:
    return {"chat_id": chat_id, "message_id": message_id, "person_id": person_id, "via": via, "read_at": at}


def _insert_read(session: AsyncSession, prefix: str = "", only_if: Any = None) -> Any:
    names = ("chat_id", "message_id", "person_id", "via", "read_at")
    return insert_rows(session, Read, names, prefix=prefix, only_if=only_if).on_conflict_do_nothing(
        index_elements=["chat_id", "message_id", "person_id"]
    )


# Reads nothing depends on (ReadRepository.record_later), written together.
pending_reads = DeferredRows("reads.record", _insert_read)


@dataclass(frozen=True)
class InboxItem:
    notice: Notice
    chat_title: str
    department_name: str | None
    read: bool
    # In how many other of the person's groups the same notice was posted.
    also_in: int = 0


class InboxRepository:
    """A person's notices from every group they are in, soonest deadline first.

    A page is found in two steps: a narrow query over the ids and sort keys of all the
    person's notices (answered from the ix_notices_inbox index alone, the total counted in
    the same pass), then the full rows of the few notices on the page.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _visible(self, person_id: int, *, include_read: bool, department_id: int | None) -> Any:
        """Filters over Membership joined to Notice: what the inbox holds for this person."""
        present = and_(Membership.person_id == person_id, Membership.status.in_(PRESENT))
        # From the person's memberships outwards: the person's groups select a small share of
        # all notices, which the index then finds directly.
        query = select().select_from(Membership).join(Notice, Notice.chat_id == Membership.chat_id).where(present)
        if not include_read:
            read = select(Read.person_id).where(
                Read.chat_id == Notice.chat_id, Read.message_id == Notice.message_id, Read.person_id == person_id
            )
            # A person's own notices are never unread to them.
            own = Notice.sender_id.is_not(None) & (Notice.sender_id == person_id)
            query = query.where(~read.exists(), ~own)
        # A copy of a notice the person sees in another of their groups is shown once, there.
        original = aliased(Notice)
        seen_elsewhere = (
            select(original.id)
            .join(Membership, and_(Membership.chat_id == original.chat_id, Membership.person_id == person_id))
            .where(original.id == Notice.duplicate_of, Membership.status.in_(PRESENT))
        )
        query = query.where(or_(Notice.duplicate_of.is_(None), ~seen_elsewhere.exists()))
        if department_id is not None:
            query = query.where(Notice.department_id == department_id)
        return query

    async def page(
        self, person_id: int, *, include_read: bool, department_id: int | None, offset: int, limit: int
    ) -> tuple[list[InboxItem], int]:
        """One page of the inbox and the number of notices in it altogether."""
        await pending_reads.write(self.session)
        visible = self._visible(person_id, include_read=include_read, department_id=department_id)
        ordered = visible.add_columns(Notice.id, func.count().over()).order_by(*INBOX_ORDER).offset(offset).limit(limit)
        rows = (await self.session.execute(ordered)).all()
        # Past the last page the window count has no row to ride on: count on its own.
        total = int(rows[0][1]) if rows else int(await self.session.scalar(visible.add_columns(func.count())) or 0)
        return await self._items(person_id, [notice_id for notice_id, _total in rows]), total

    async def _items(self, person_id: int, ids: list[int]) -> list[InboxItem]:
        """The page's notices with their group, department, read mark and copies, in `ids` order."""
        if not ids:
            return []
        read = and_(Read.chat_id == Notice.chat_id, Read.message_id == Notice.message_id, Read.person_id == person_id)
        query = (
            select(Notice, Chat.title, Department.name, Read.person_id.is_not(None) | (Notice.sender_id == person_id))
            .join(Chat, Chat.id == Notice.chat_id)
            .outerjoin(Department, Department.id == Notice.department_id)
            .outerjoin(Read, read)
            .where(Notice.id.in_(ids))
        )
        rows = {
            notice.id: (notice, title, department, bool(seen))
            for notice, title, department, seen in (await self.session.execute(query)).all()
        }
        copies = await self._copy_counts(person_id, ids)
        return [InboxItem(*rows[notice_id], copies.get(notice_id, 0)) for notice_id in ids if notice_id in rows]

    async def _copy_counts(self, person_id: int, ids: list[int]) -> dict[int, int]:
        """In how many of the person's other groups each notice was posted again, in one query."""
        query = (
            select(Notice.duplicate_of, func.count())
            .join(Membership, and_(Membership.chat_id == Notice.chat_id, Membership.person_id == person_id))
            .where(Notice.duplicate_of.in_(ids), Membership.status.in_(PRESENT))
            .group_by(Notice.duplicate_of)
        )
        return {original: int(count) for original, count in (await self.session.execute(query)).all()}

    async def unread_with_deadlines(
        self, person_id: int, *, since: datetime, until: datetime, limit: int
    ) -> tuple[int, list[InboxItem]]:
        """How many notices the person has not read, and the unread ones due in [since, until),
        soonest first (the personal weekly digest)."""
        await pending_reads.write(self.session)
        visible = self._visible(person_id, include_read=False, department_id=None)
        total = await self.session.scalar(visible.add_columns(func.count()))
        due = (
            visible.add_columns(Notice.id)
            .where(Notice.deadline_at >= since, Notice.deadline_at < until)
            .order_by(Notice.deadline_at, Notice.id)
            .limit(limit)
        )
        ids = [notice_id for (notice_id,) in (await self.session.execute(due)).all()]
        return int(total or 0), await self._items(person_id, ids)


# Soonest deadline first (none last), then newest; the id settles ties so pages never overlap.
INBOX_ORDER = (Notice.deadline_at.asc().nulls_last(), Notice.posted_at.desc(), Notice.id.desc())
