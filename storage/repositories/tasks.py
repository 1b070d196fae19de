"""Due work kept in the database: scheduled once, claimed atomically, finished or retried."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Task
from storage.repositories._sql import (
    DeferredRows,
    cached_statement,
    core_execute,
    dialect_name,
    insert_rows,
    rows_parameters,
)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def schedule(self, kind: str, key: str, due_at: datetime, payload: dict[str, Any] | None = None) -> bool:
        """Add the task unless one with the same key exists; True when it was added."""
        await pending_tasks.write(self.session)
        statement = cached_statement(self.session, "tasks.schedule", _schedule)
        parameters = rows_parameters(
            self.session, [{"kind": kind, "key": key, "payload": payload or {}, "due_at": due_at}]
        )
        return (await core_execute(self.session, statement, parameters)).first() is not None

    def schedule_later(self, kind: str, key: str, due_at: datetime, payload: dict[str, Any] | None = None) -> None:
        """`schedule`, for a caller that needs no answer: written with the transaction's other such
        tasks in one statement, before it commits or before this repository's next statement
        (a batch of group messages schedules a reminder for every notice with a deadline)."""
        pending_tasks.add(self.session, {"kind": kind, "key": key, "payload": payload or {}, "due_at": due_at})

    async def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Task]:
        """Take up to `limit` due tasks for this worker; no other worker gets the same ones.

        A task whose lease ran out (its worker died mid-way) is due again, so a crash
        resumes the work instead of losing it. Delivery is therefore at least once: runners
        make their effects idempotent (a second delete of a deleted message is harmless).
        """
        await pending_tasks.write(self.session)
        candidates = select(Task.id).where(_due(now)).order_by(Task.due_at, Task.id).limit(limit)
        if dialect_name(self.session) == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            update(Task)
            .where(Task.id.in_(candidates.scalar_subquery()))
            .values(state=RUNNING, lease_until=now + lease, attempts=Task.attempts + 1)
            .returning(Task)
            .execution_options(synchronize_session=False)
        )
        claimed = list((await self.session.scalars(statement)).all())
        return sorted(claimed, key=lambda task: (task.due_at, task.id))

    async def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """Due work nobody is doing (unclaimed, or its worker died): how much, and the oldest due time."""
        await pending_tasks.write(self.session)
        row = (await self.session.execute(select(func.count(), func.min(Task.due_at)).where(_due(now)))).one()
        return int(row[0]), row[1]

    # Settling names the claim (its attempt number): a worker whose lease ran out and whose
    # task was claimed again must not overwrite the new owner's result. False when it lost it.

    async def complete(self, task: Task, now: datetime) -> bool:
        return await self._settle(task, state=DONE, done_at=now, lease_until=None)

    async def retry(self, task: Task, due_at: datetime, error: str) -> bool:
        return await self._settle(task, state=PENDING, due_at=due_at, lease_until=None, last_error=error[:255])

    async def fail(self, task: Task, now: datetime, error: str) -> bool:
        return await self._settle(task, state=FAILED, done_at=now, lease_until=None, last_error=error[:255])

    async def get(self, task_id: int) -> Task | None:
        await pending_tasks.write(self.session)
        # populate_existing: a compare-and-set earlier in the session changed the row behind the ORM.
        query = select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
        return (await self.session.scalars(query)).first()

    async def change_pending(self, task_id: int, **values: Any) -> bool:
        """Change a task no worker has claimed yet (compare-and-set on the pending state): a
        person's choice and the sweep never both win. False when it was claimed or settled."""
        await pending_tasks.write(self.session)
        statement = (
            update(Task)
            .where(Task.id == task_id, Task.state == PENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def reopen(self, task_id: int) -> bool:
        """Undo a settle made earlier in the same transaction (the work could not be done now)."""
        await pending_tasks.write(self.session)
        statement = (
            update(Task)
            .where(Task.id == task_id, Task.state == DONE)
            .values(state=PENDING, done_at=None)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def postpone(self, key: str, due_at: datetime) -> bool:
        """Move a pending task to another time (e.g. keep a message until something happens)."""
        task = await self.get_by_key(key)
        return task is not None and await self.change_pending(task.id, due_at=due_at)

    async def set_payload(self, task_id: int, payload: dict[str, Any]) -> None:
        """Replace what a task carries (its runner forgetting text it no longer needs)."""
        await pending_tasks.write(self.session)
        statement = (
            update(Task).where(Task.id == task_id).values(payload=payload).execution_options(synchronize_session=False)
        )
        await self.session.execute(statement)

    async def save_progress(self, task: Task, payload: dict[str, Any]) -> bool:
        """Keep a running task's progress in its payload, so a retry resumes there instead of
        repeating what was done; only its current owner may. False when it lost the claim."""
        await pending_tasks.write(self.session)
        statement = (
            update(Task)
            .where(Task.id == task.id, Task.state == RUNNING, Task.attempts == task.attempts)
            .values(payload=payload)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def pending_by_key_prefix(self, kind: str, prefix: str, now: datetime) -> list[Task]:
        """Pending tasks of `kind` whose key starts with `prefix` and whose time is not up, oldest
        first (pending tasks are few: the state index finds them)."""
        await pending_tasks.write(self.session)
        query = (
            select(Task)
            .where(Task.state == PENDING, Task.kind == kind, Task.key.startswith(prefix, autoescape=True))
            .where(Task.due_at > now)
            .order_by(Task.id)
        )
        return list(await self.session.scalars(query))

    async def get_by_key(self, key: str) -> Task | None:
        await pending_tasks.write(self.session)
        return (await self.session.scalars(select(Task).where(Task.key == key))).first()

    async def _settle(self, task: Task, **values: Any) -> bool:
        await pending_tasks.write(self.session)
        statement = (
            update(Task)
            .where(Task.id == task.id, Task.state == RUNNING, Task.attempts == task.attempts)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount == 1


def _due(now: datetime) -> Any:
    """Pending and due, or running on a lease that ran out (its worker died)."""
    return or_(
        and_(Task.state == PENDING, Task.due_at <= now),
        and_(Task.state == RUNNING, Task.lease_until < now),
    )


def _schedule(session: AsyncSession) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING RETURNING id, built once: every expiring message schedules one."""
    return _insert_unless_keyed(session).returning(Task.id)


def _insert_unless_keyed(session: AsyncSession, prefix: str = "", only_if: Any = None) -> Any:
    """INSERT … ON CONFLICT (key) DO NOTHING: a task once per key (schedule_later's rows, in one statement)."""
    state = {"state": literal(PENDING, type_=Task.__table__.c["state"].type)}
    columns = ("kind", "key", "payload", "due_at")
    statement = insert_rows(session, Task, columns, prefix=prefix, constants=state, only_if=only_if)
    return statement.on_conflict_do_nothing(index_elements=["key"])


# Tasks whose schedulers need no answer (TaskRepository.schedule_later), written together.
pending_tasks = DeferredRows("tasks.schedule_later", _insert_unless_keyed)
