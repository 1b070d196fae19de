"""Typed SQLAlchemy 2 models; only types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from policies.lifecycle import GroupKind, GroupState

# Stable constraint names, so Alembic batch migrations on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; the one place that re-attaches UTC to SQLite's naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON, int: Integer}


class Department(Base):
    """A department that owns work groups; supervisors watch its burden."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    contact_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    internal_units: Mapped[int] = mapped_column(default=1)
    # Its own number of allowed active work groups; None follows [quotas] groups_per_unit.
    group_quota: Mapped[int | None]
    created_at: Mapped[datetime]


class Chat(Base):
    """A group the bot is or was in (private chats are not stored here)."""

    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), index=True)
    # policies.lifecycle.GroupKind
    kind: Mapped[str] = mapped_column(String(16), default=GroupKind.PERMANENT.value)
    # policies.lifecycle.GroupState: the work group's lifecycle, not the bot's presence.
    state: Mapped[str] = mapped_column(String(16), default=GroupState.ACTIVE.value)
    # zh-CN | en, or None to follow each user's Telegram language.
    language: Mapped[str | None] = mapped_column(String(8))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The bot's own status: member | administrator | left | kicked | migrated (to a supergroup).
    bot_status: Mapped[str] = mapped_column(String(16), default="member")
    bot_rights: Mapped[dict[str, Any]] = mapped_column(default=dict)
    member_count: Mapped[int | None]
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    admins_synced_at: Mapped[datetime | None]
    # Temporary groups: what for, the date the work ends by itself, and the close countdown.
    purpose: Mapped[str | None] = mapped_column(String(100))
    until_date: Mapped[date | None] = mapped_column(Date)
    done_at: Mapped[datetime | None]
    close_at: Mapped[datetime | None]
    # How many close steps are finished, so a close interrupted by a crash resumes there.
    close_step: Mapped[int] = mapped_column(default=0, server_default="0")
    closed_at: Mapped[datetime | None]
    idle_asked_at: Mapped[datetime | None]


class Person(Base):
    """Someone the bot has seen: the only personal data Jianfu keeps."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    display_name: Mapped[str] = mapped_column(String(255))
    # Telegram's language_code as last seen; `language` is the choice made with /lang.
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    has_private_chat: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the person last got the private "react or press Read instead of 收到" tip.
    ack_tip_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class Membership(Base):
    """A person in a group, learned from messages, member updates and reactions."""

    __tablename__ = "memberships"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True)
    # creator | administrator | member | restricted | left | kicked
    status: Mapped[str] = mapped_column(String(16), default="member")
    last_seen_at: Mapped[datetime]


class RoleGrant(Base):
    """A role given with /grant: supervisor, or contact of one department."""

    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not a foreign key: a supervisor may be granted before the bot has ever seen them.
    person_id: Mapped[int] = mapped_column(BigInteger, index=True)
    role: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    granted_by: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime]


class AuditEntry(Base):
    """One privileged action: who did what, where, to what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class GroupAction(Base):
    """What the bot did in a group (or privately about one), by which rule, why, and how it went.

    The group's audit trail for its admins: never the text of an ordinary message; a removed
    ack's words only (what made it an ack), and whose message it was."""

    __tablename__ = "group_actions"
    __table_args__ = (
        Index("ix_group_actions_chat_id_at", "chat_id", "at"),
        Index("ix_group_actions_person_id_at", "person_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(32))
    # delete | send | pin | setpermissions | … | kept (decided against, no Telegram call) | role
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(128))
    # policies.actions.Outcome's values
    outcome: Mapped[str] = mapped_column(String(16))
    # Whose message it was, or whom a private message went to.
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    # A removed ack's words.
    text: Mapped[str | None] = mapped_column(String(64))


class Task(Base):
    """Due work that must survive restarts: claimed atomically by the sweep, run once."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_state_due_at", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Unique, so scheduling the same work twice (two replicas, a retried update) is a no-op.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    due_at: Mapped[datetime]
    # pending | running | done | failed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(255))
    done_at: Mapped[datetime | None]


class OutboxAction(Base):
    """A Telegram action that must not be lost, written with the facts that cause it.

    The process that wrote it performs it right after the commit; the sweep takes it over when
    that process died (its lease ran out) or Telegram asked to try later.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_due_at", "state", "due_at"),
        # The sweep's purge of settled rows past their week (one row per removed ack).
        Index("ix_outbox_state_done_at", "state", "done_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # What it is (send, delete, pin…) and where: for the log, the audit trail and ordering.
    kind: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The action and its follow-ups, encoded by bot/outbox.py.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending | sending | done | uncertain | failed
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    # Until then the process that wrote or claimed it owns it; afterwards the sweep may take it.
    lease_until: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class HandledUpdate(Base):
    """A Telegram update whose effects are committed (or that was set aside): never again.

    Polling after a crash and webhook retries deliver an update again, and replicas may both
    receive it; the first transaction to insert its id wins, the others change nothing.
    """

    __tablename__ = "handled_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # done | failing (tried and failed `attempts` times) | set_aside (given up)
    state: Mapped[str] = mapped_column(String(16), default="done")
    attempts: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime] = mapped_column(index=True)


class Replica(Base):
    """A running process of this bot: replicas share Telegram's per-bot sending limits."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class Notice(Base):
    """A notice posted in a group: the only message text Jianfu stores."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("chat_id", "message_id"),
        Index("ix_notices_chat_id_posted_at", "chat_id", "posted_at"),
        Index("ix_notices_fingerprint_posted_at", "fingerprint", "posted_at"),
        Index("ix_notices_band_0", "band_0"),
        Index("ix_notices_band_1", "band_1"),
        Index("ix_notices_band_2", "band_2"),
        Index("ix_notices_band_3", "band_3"),
        # The inbox reads only this index for the thousands of notices of a person's groups
        # (unread check, filters, sort keys), then loads the few rows of one page.
        Index(
            "ix_notices_inbox",
            "chat_id",
            "message_id",
            "deadline_at",
            "posted_at",
            "duplicate_of",
            "department_id",
            "sender_id",
        ),
        # Copies of a notice ("also in N groups", reading every copy at once). Partial: an index
        # holding the many NULLs would tempt SQLite's planner to answer "duplicate_of IS NULL"
        # in duplicate detection from it instead of from the fingerprint (40 ms instead of 2).
        Index(
            "ix_notices_duplicate_of",
            "duplicate_of",
            sqlite_where=sql_text("duplicate_of IS NOT NULL"),
            postgresql_where=sql_text("duplicate_of IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    # None while a tracked notice waits to be posted: its row (and the id its Read button
    # carries) exists before the message does.
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    sender_id: Mapped[int | None] = mapped_column(BigInteger)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    # notice | meeting | data_request
    kind: Mapped[str] = mapped_column(String(16), default="notice")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sender demanded "received" replies in it.
    ack_demand: Mapped[bool] = mapped_column(Boolean, default=False)
    # Posted by the bot with a Read button and a read counter.
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    posted_at: Mapped[datetime]
    deadline_at: Mapped[datetime | None]
    counter_edited_at: Mapped[datetime | None]
    # Duplicates: the same text (fingerprint) or a near-copy (MinHash bands) of an earlier notice.
    fingerprint: Mapped[str | None] = mapped_column(String(16))
    band_0: Mapped[int | None] = mapped_column(BigInteger)
    band_1: Mapped[int | None] = mapped_column(BigInteger)
    band_2: Mapped[int | None] = mapped_column(BigInteger)
    band_3: Mapped[int | None] = mapped_column(BigInteger)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="SET NULL"))


class Read(Base):
    """A person has seen a message: by button, reaction, removed ack or the inbox."""

    __tablename__ = "reads"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # button | reaction | ack | inbox
    via: Mapped[str] = mapped_column(String(16))
    read_at: Mapped[datetime]


class Event(Base):
    """A countable fact for the digest, attributed to a department and a local day; no content."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_day_kind", "day", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # Unique when set, so recording the same fact twice (an edit, a retried update) is a no-op.
    key: Mapped[str | None] = mapped_column(String(255), unique=True)
    at: Mapped[datetime]


class Whistle(Base):
    """An anonymous report on a department. Nothing in it says who sent it or when, to the minute:
    no user, chat or message id, and the creation time is kept to the day."""

    __tablename__ = "whistles"
    __table_args__ = (
        Index("ix_whistles_code_bucket", "code_bucket"),
        Index("ix_whistles_status_created_on", "status", "created_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    # The name the whistleblower typed when the department is not registered.
    department_name: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    # new | review | forwarded | rectified | rejected (policies.whistle.Status)
    status: Mapped[str] = mapped_column(String(16), default="new")
    created_on: Mapped[date] = mapped_column(Date)
    # The receipt code is never stored: only a few bits of its SHA-256 to find the row, and
    # a salted scrypt hash to check it.
    code_bucket: Mapped[int] = mapped_column(Integer)
    code_hash: Mapped[str] = mapped_column(String(160))
    # Supervisors have been told about it in one of their batches.
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last day it was flagged to supervisors as open too long.
    flagged_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime | None]


class WhistleEvidence(Base):
    """Content the whistleblower attached: text, or a file by Telegram file id; never its author."""

    __tablename__ = "whistle_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    whistle_id: Mapped[int] = mapped_column(ForeignKey("whistles.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # text | photo | document
    kind: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)


class WhistleResponse(Base):
    """What supervisors did with a report; `visible` entries are shown to the code's holder."""

    __tablename__ = "whistle_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    whistle_id: Mapped[int] = mapped_column(ForeignKey("whistles.id", ondelete="CASCADE"), index=True)
    # review | response | forwarded | rectified | rejected
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    at: Mapped[datetime]


class WhistleDraft(Base):
    """A whistle report being written, between one message and the next (any replica may get the next).

    No Telegram id in clear: the row is named by a keyed HMAC of the person's id, and its content
    (department, category, description, evidence) is sealed with AES-GCM; both keys come from a
    secret the database does not hold (bot/whistle_keys.py). Deleted on submit, cancel or expiry.
    """

    __tablename__ = "whistle_drafts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Idle drafts are deleted once this passes (on the person's next message, or by the purge job).
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WhistleLimit(Base):
    """Hits against one whistle rate limit in one period, per bucket of people, never per person:
    see policies.whistle.limit_bucket. Rows of ended periods are deleted."""

    __tablename__ = "whistle_limits"

    # reports | codes
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hits: Mapped[int] = mapped_column(Integer)


class WhistlePendingAnswer(Base):
    """A supervisor pressed respond / rectified / reject, and the bot waits for their text.

    Supervisors act under their own name (the audit log has them too), so this row simply says who."""

    __tablename__ = "whistle_pending_answers"

    supervisor_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    whistle_id: Mapped[int] = mapped_column(ForeignKey("whistles.id", ondelete="CASCADE"), index=True)
    # response | rectified | rejected
    action: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime] = mapped_column(index=True)
