"""/grant and /revoke: supervisors give and take the supervisor and department-contact roles."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from bot.context import Deps, JianfuContext
from bot.handlers._common import allowed, command, command_text, emit, reply, transactional
from policies.actions import SetMenu
from policies.commands import ParseError, RoleChange, parse_role_change
from policies.departments import normalize_name
from storage.repositories.audit import AuditRepository
from storage.repositories.departments import DepartmentRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.roles import RoleRepository


async def _parse(update: Update, context: JianfuContext, session: AsyncSession, command: str) -> RoleChange | None:
    """The role change asked for, after the role check; None when the caller was answered."""
    if not await allowed(update, context, session, command):
        return None
    replied = update.effective_message.reply_to_message
    replied_user = replied.from_user.id if replied and replied.from_user and not replied.from_user.is_bot else None
    parsed = parse_role_change(command_text(update), replied_user)
    if isinstance(parsed, ParseError):
        await reply(update, context, session, parsed.key, **parsed.params)
        return None
    return parsed


async def _person_label(session: AsyncSession, person_id: int) -> str:
    person = await PeopleRepository(session).get(person_id)
    return f"{person.display_name} ({person_id})" if person else str(person_id)


async def _department_id(
    update: Update, context: JianfuContext, session: AsyncSession, change: RoleChange
) -> int | bool | None:
    """The department of a contact role; False (after answering) when it does not exist."""
    if change.role != "contact":
        return None
    department = await DepartmentRepository(session, normalize_name).find_exact(change.department or "")
    if department is None:
        await reply(update, context, session, "dept.not_found", name=change.department)
        return False
    return department.id


@transactional
async def grant(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    change = await _parse(update, context, session, "grant")
    if change is None:
        return
    department_id = await _department_id(update, context, session, change)
    if department_id is False:
        return
    actor, now = update.effective_user.id, context.deps.clock()
    label = await _person_label(session, change.person_id)
    added = await RoleRepository(session).grant(
        change.person_id, change.role, by=actor, now=now, department_id=department_id
    )
    if not added:
        await reply(update, context, session, "grant.already", person=label)
        return
    await AuditRepository(session).record(
        "role.grant",
        actor_id=actor,
        now=now,
        target=str(change.person_id),
        detail={"role": change.role, "department": change.department},
    )
    key = "grant.done_contact" if change.role == "contact" else "grant.done_supervisor"
    await reply(update, context, session, key, person=label, department=change.department or "")
    if change.role == "supervisor":
        emit(SetMenu(change.person_id, "supervisor", rule="roles", reason="granted"))


@transactional
async def revoke(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    change = await _parse(update, context, session, "revoke")
    if change is None:
        return
    actor, label = update.effective_user.id, await _person_label(session, change.person_id)
    if change.role == "supervisor" and change.person_id in context.deps.settings.roles.supervisors:
        await reply(update, context, session, "grant.configured", person=label)
        return
    if change.role == "supervisor" and change.person_id == actor:
        await reply(update, context, session, "grant.self")
        return
    department_id = await _department_id(update, context, session, change)
    if department_id is False:
        return
    if not await RoleRepository(session).revoke(change.person_id, change.role, department_id):
        await reply(update, context, session, "grant.absent", person=label)
        return
    await AuditRepository(session).record(
        "role.revoke",
        actor_id=actor,
        now=context.deps.clock(),
        target=str(change.person_id),
        detail={"role": change.role, "department": change.department},
    )
    await reply(update, context, session, "grant.revoked", person=label)
    if change.role == "supervisor":
        emit(SetMenu(change.person_id, "", rule="roles", reason="revoked"))


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("grant", grant))
    app.add_handler(command("revoke", revoke))
