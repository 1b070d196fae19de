"""Departments: /dept for supervisors, /register in a group, /groups at a glance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot import access
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    allowed,
    answer,
    command,
    command_text,
    emit,
    in_group,
    in_private,
    language_for,
    reply,
    transactional,
)
from bot.i18n import Html
from bot.services.quotas import check_quota
from policies import commands as parsed
from policies.actions import Button, EditSay
from policies.callbacks import RegisterCancel, RegisterDepartment, encode
from policies.departments import DepartmentRef, match_department, normalize_name
from policies.lifecycle import quota_for
from policies.roles import may_run
from policies.text import pack
from storage.models import Department
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository, GroupOverview
from storage.repositories.departments import DepartmentRepository, DuplicateDepartment
from storage.repositories.roles import RoleRepository

# /dept ------------------------------------------------------------------------------------


@transactional
async def dept(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await allowed(update, context, session, "dept") or not await in_private(update, context, session):
        return
    command = parsed.parse_dept(command_text(update))
    if isinstance(command, parsed.ParseError):
        await reply(update, context, session, command.key, **command.params)
        return
    if isinstance(command, parsed.DeptList):
        await _list_departments(update, context, session)
    elif isinstance(command, parsed.DeptAdd):
        await _add(update, context, session, command)
    else:
        await _change(update, context, session, command)


async def _add(update: Update, context: JianfuContext, session: AsyncSession, command: parsed.DeptAdd) -> None:
    try:
        await DepartmentRepository(session, normalize_name).add(
            command.name, command.code, command.units, context.deps.clock()
        )
    except DuplicateDepartment:
        await reply(update, context, session, "dept.exists", name=command.name)
        return
    await _audit(update, context, session, "dept.add", command.name, {"code": command.code, "units": command.units})
    await reply(update, context, session, "dept.added", name=command.name, code=command.code, units=command.units)


async def _change(update: Update, context: JianfuContext, session: AsyncSession, command: parsed.DeptCommand) -> None:
    """rename, remove, units, contact: each needs an existing department first."""
    name = command.old if isinstance(command, parsed.DeptRename) else command.name
    departments = DepartmentRepository(session, normalize_name)
    department = await departments.find_exact(name)
    if department is None:
        await reply(update, context, session, "dept.not_found", name=name)
        return
    if isinstance(command, parsed.DeptRename):
        await _rename(update, context, session, department, command.new)
    elif isinstance(command, parsed.DeptRemove):
        await _remove(update, context, session, department)
    elif isinstance(command, parsed.DeptUnits):
        await departments.set_units(department, command.units)
        await _audit(update, context, session, "dept.units", department.name, {"units": command.units})
        await reply(update, context, session, "dept.units_set", name=department.name, units=command.units)
    elif isinstance(command, parsed.DeptContact):
        await departments.set_contact_chat(department, command.chat_id)
        await _audit(update, context, session, "dept.contact", department.name, {"chat_id": command.chat_id})
        key = "dept.contact_set" if command.chat_id is not None else "dept.contact_cleared"
        await reply(update, context, session, key, name=department.name, chat_id=command.chat_id or "")
    elif isinstance(command, parsed.DeptQuota):
        await departments.set_quota(department, command.quota)
        await _audit(update, context, session, "dept.quota", department.name, {"quota": command.quota})
        key = "dept.quota_set" if command.quota is not None else "dept.quota_cleared"
        await reply(update, context, session, key, name=department.name, quota=command.quota or "")


async def _rename(
    update: Update, context: JianfuContext, session: AsyncSession, department: Department, new: str
) -> None:
    old = department.name
    try:
        await DepartmentRepository(session, normalize_name).rename(department, new)
    except DuplicateDepartment:
        await reply(update, context, session, "dept.exists", name=new)
        return
    await _audit(update, context, session, "dept.rename", old, {"new": new})
    await reply(update, context, session, "dept.renamed", old=old, new=new)


async def _remove(update: Update, context: JianfuContext, session: AsyncSession, department: Department) -> None:
    count = await ChatRepository(session).count_for_department(department.id)
    if count:
        await reply(update, context, session, "dept.remove_refused", name=department.name, count=count)
        return
    name = department.name
    await RoleRepository(session).drop_department(department.id)
    await DepartmentRepository(session, normalize_name).remove(department)
    await _audit(update, context, session, "dept.remove", name, {})
    await reply(update, context, session, "dept.removed", name=name)


async def _list_departments(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    departments = await DepartmentRepository(session, normalize_name).all()
    if not departments:
        await reply(update, context, session, "dept.list_empty")
        return
    language = await language_for(update, context, session)
    catalog = context.deps.catalog
    group_counts = await ChatRepository(session).counts_by_department()
    lines = [catalog.text(language, "dept.list_header", count=len(departments))]
    for department in departments:
        contact = (
            catalog.text(language, "dept.list_contact", chat_id=department.contact_chat_id)
            if department.contact_chat_id
            else ""
        )
        groups = group_counts.get(department.id, 0)
        quota = quota_for(
            department.internal_units, context.deps.settings.quotas.groups_per_unit, department.group_quota
        )
        lines.append(
            catalog.text(
                language,
                "dept.list_item",
                name=department.name,
                code=department.code,
                units=department.internal_units,
                groups=groups,
                contact=Html(contact),
                quota=quota if quota is not None else "—",
            )
        )
    await _reply_in_chunks(update, context, session, lines)


async def _audit(
    update: Update, context: JianfuContext, session: AsyncSession, action: str, target: str, detail: dict
) -> None:
    await AuditRepository(session).record(
        action,
        actor_id=update.effective_user.id,
        now=context.deps.clock(),
        chat_id=update.effective_chat.id,
        target=target,
        detail=detail,
    )


# /register ----------------------------------------------------------------------------------


@transactional
async def register_group(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await in_group(update, context, session) or not await allowed(update, context, session, "register"):
        return
    query = command_text(update)
    if not query:
        await reply(update, context, session, "register.usage")
        return
    departments = await DepartmentRepository(session, normalize_name).all()
    if not departments:
        await reply(update, context, session, "register.no_departments")
        return
    refs = [DepartmentRef(d.id, d.name, d.code) for d in departments]
    match = match_department(query, refs)
    if match.exact is not None:
        await _attach(update, context, session, match.exact.id)
    elif match.candidates:
        buttons = [Button(d.name, encode(RegisterDepartment(d.id)), literal=True) for d in match.candidates]
        buttons.append(Button("register.cancel", encode(RegisterCancel())))
        await reply(update, context, session, "register.ambiguous", query=query, buttons=tuple(buttons))
    else:
        language = await language_for(update, context, session)
        known = context.deps.catalog.raw(language, "list_separator").join(d.name for d in departments[:20])
        await reply(update, context, session, "register.unknown", query=query, known=known)


async def _attach(update: Update, context: JianfuContext, session: AsyncSession, department_id: int) -> None:
    """Point the group at the department and say so."""
    department = await DepartmentRepository(session, normalize_name).get(department_id)
    chat_id = update.effective_chat.id
    chats = ChatRepository(session)
    await chats.ensure(chat_id, update.effective_chat.title or "", update.effective_chat.type, context.deps.clock())
    chat = await chats.get(chat_id)
    if department is None:
        return await _answer(update, context, session, "register.expired")
    if chat is not None and chat.department_id == department.id:
        return await _answer(update, context, session, "register.unchanged", name=department.name)
    await chats.set_fields(chat_id, department_id=department.id)
    await _audit(update, context, session, "chat.register", department.name, {"department_id": department.id})
    await _answer(update, context, session, "register.done", name=department.name)
    await check_quota(context.deps, session, department, chat_id)


async def _answer(update: Update, context: JianfuContext, session: AsyncSession, key: str, **params: object) -> None:
    """Reply to a /register command, or replace the buttons of the confirmation that was pressed."""
    if update.callback_query is None:
        await reply(update, context, session, key, **params)
        return
    language = await language_for(update, context, session)
    message = update.callback_query.message
    emit(EditSay(message.chat.id, message.message_id, key, params, language=language, durable=False))


@transactional
async def register_pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query = update.callback_query
    roles = await access.roles_of(context.deps, session, context.bot, query.from_user.id, update.effective_chat)
    if not may_run("register", roles).hit:
        language = await language_for(update, context, session)
        answer(update, context.deps.catalog.raw(language, "register.not_yours"), alert=True)
        return
    answer(update)
    choice = value_of(update, RegisterDepartment | RegisterCancel)
    if isinstance(choice, RegisterDepartment):
        await _attach(update, context, session, choice.department_id)
    else:
        await _answer(update, context, session, "register.cancelled")


# /groups ------------------------------------------------------------------------------------


@transactional
async def groups(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await allowed(update, context, session, "groups") or not await in_private(update, context, session):
        return
    rows = await ChatRepository(session).overview()
    if not rows:
        await reply(update, context, session, "groups.empty")
        return
    language = await language_for(update, context, session)
    lines = [context.deps.catalog.text(language, "groups.header", count=len(rows))]
    lines += [_group_line(context, language, row) for row in rows]
    await _reply_in_chunks(update, context, session, lines)


def _group_line(context: JianfuContext, language: str, row: GroupOverview) -> str:
    catalog, chat = context.deps.catalog, row.chat
    present = chat.bot_status in ("member", "administrator")
    return catalog.text(
        language,
        "groups.item",
        title=chat.title,
        gone=Html("" if present else catalog.raw(language, "groups.bot_gone")),
        chat_id=chat.id,
        department=row.department_name or catalog.raw(language, "groups.no_department"),
        kind=catalog.raw(language, f"kind.{chat.kind}"),
        state=catalog.raw(language, f"state.{chat.state}"),
        members=chat.member_count if chat.member_count is not None else catalog.raw(language, "groups.unknown_count"),
        last_activity=_local_time(context, chat.last_activity_at) or catalog.raw(language, "groups.never"),
    )


def _local_time(context: JianfuContext, moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(context.deps.settings.tz).strftime("%Y-%m-%d %H:%M")


async def _reply_in_chunks(update: Update, context: JianfuContext, session: AsyncSession, lines: list[str]) -> None:
    """Send long listings as several messages, never cutting a line."""
    for message in pack(lines):
        await reply(update, context, session, "raw", text=Html(message))


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("dept", dept))
    app.add_handler(command("register", register_group))
    app.add_handler(CallbackQueryHandler(register_pressed, pattern=kinds(RegisterDepartment, RegisterCancel)))
    app.add_handler(command("groups", groups))
