"""The countdown of a temporary group: done, its close time and reminder, the `until` date, and
a migrated group keeping all of it. Called by /temp, /done, /extend, the idle question and membership."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot.context import Deps
from bot.pipeline import current_unit
from policies.actions import SENT, About, Pin, Say, TellAdminsOnce, Then
from policies.lifecycle import (
    GroupEvent,
    GroupKind,
    GroupState,
    closes_at,
    counting_down,
    leads_to,
    may,
    reminder_due,
    until_due,
)
from storage.models import Chat, Task
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

CLOSE_TASK, REMIND_TASK, UNTIL_TASK = "temp_close", "temp_remind", "temp_until"
RULE = "temporary"


def local_time(deps: Deps, moment: datetime) -> str:
    return moment.astimezone(deps.settings.tz).strftime("%Y-%m-%d %H:%M")


async def audit(session: AsyncSession, deps: Deps, actor: int | None, action: str, chat_id: int, detail: dict) -> None:
    await AuditRepository(session).record(action, actor_id=actor, now=deps.clock(), chat_id=chat_id, detail=detail)


async def mark_done(deps: Deps, session: AsyncSession, chat_id: int, *, actor_id: int | None) -> None:
    """The work is complete: announce the close time in the group, pin it, start the countdown."""
    now = deps.clock()
    close_at = closes_at(now, deps.settings.temporary.close_after_days)
    state = leads_to(GroupEvent.DONE)
    await ChatRepository(session).set_fields(chat_id, state=state, done_at=now, close_at=close_at, close_step=0)
    await schedule_close(deps, session, chat_id, close_at)
    await audit(session, deps, actor_id, "chat.done", chat_id, {"close_at": close_at.isoformat()})
    params = {"close_at": local_time(deps, close_at), "days": deps.settings.temporary.close_after_days}
    missing_pin = Then(no_rights=(TellAdminsOnce(chat_id, "temp.admins_missing_pin"),))
    pin = Pin(chat_id, SENT, rule=RULE, reason="close announcement", then=missing_pin)
    announce = Say(chat_id, "temp.done_announce", params, rule=RULE, reason="work done", then=Then(done=(pin,)))
    current_unit().emit(announce)


async def schedule_close(deps: Deps, session: AsyncSession, chat_id: int, close_at: datetime) -> None:
    """The close and its reminder, keyed by the close time: a changed time makes old ones stale."""
    tasks, stamp = TaskRepository(session), close_at.isoformat()
    payload = {"chat_id": chat_id, "close_at": stamp}
    await tasks.schedule(CLOSE_TASK, f"{CLOSE_TASK}:{chat_id}:{stamp}", close_at, payload)
    before = timedelta(hours=deps.settings.temporary.reminder_hours)
    due = reminder_due(close_at, before, deps.clock()) if before else None
    if due is not None:
        await tasks.schedule(REMIND_TASK, f"{REMIND_TASK}:{chat_id}:{stamp}", due, payload)


async def follow_migration(deps: Deps, session: AsyncSession, chat: Chat | None) -> None:
    """A group that became a supergroup keeps its countdown and its until date under the new id."""
    if chat is None or chat.kind != GroupKind.TEMPORARY:
        return
    if counting_down(chat.state) and chat.close_at is not None:
        await schedule_close(deps, session, chat.id, chat.close_at)
    if chat.until_date is not None and chat.state == GroupState.ACTIVE:
        await schedule_until(deps, session, chat.id, chat.until_date)


async def schedule_until(deps: Deps, session: AsyncSession, chat_id: int, until: date) -> None:
    """The group's `until` date marks it done by itself (keyed by the date: a new one adds its own)."""
    payload = {"chat_id": chat_id, "until": until.isoformat()}
    due = until_due(until, deps.settings.tz)
    await TaskRepository(session).schedule(UNTIL_TASK, f"{UNTIL_TASK}:{chat_id}:{until}", due, payload)


async def current(session: AsyncSession, task: Task) -> Chat | None:
    """The group, when the task still matches its countdown (not reopened or extended since)."""
    chat = await ChatRepository(session).get(task.payload["chat_id"])
    if chat is None or chat.bot_status == "migrated" or not counting_down(chat.state) or chat.close_at is None:
        return None
    return chat if chat.close_at == datetime.fromisoformat(task.payload["close_at"]) else None


async def remind(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """The day before the close: once in the group, and privately to its admins."""
    async with deps.pipeline.unit(task=task) as unit:
        chat = await current(unit.session, task)
        if chat is None or chat.close_at <= deps.clock():
            # Due while the bot was down and the close time has passed: the close itself says it.
            return True
        params = {"title": chat.title, "close_at": local_time(deps, chat.close_at)}
        unit.emit(Say(chat.id, "temp.reminder_group", params, rule=RULE, reason="close tomorrow"))
        admin_ids = await ChatRepository(unit.session).admin_ids(chat.id)
        for admin in await PeopleRepository(unit.session).with_private_chat(admin_ids):
            unit.emit(
                Say(admin, "temp.reminder_private", params, rule=RULE, reason="close tomorrow", about=About(chat.id))
            )
    return True


async def until_reached(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """A temporary group's `until` date has come: its work is done by itself."""
    async with deps.pipeline.unit(task=task) as unit:
        chat = await ChatRepository(unit.session).get(task.payload["chat_id"])
        fresh = chat is not None and chat.kind == GroupKind.TEMPORARY and may(GroupEvent.DONE, chat.state)
        if fresh and chat.until_date is not None and chat.until_date.isoformat() == task.payload["until"]:
            await mark_done(deps, unit.session, chat.id, actor_id=None)
    return True


def register(deps: Deps) -> None:
    deps.register_task(REMIND_TASK, remind)
    deps.register_task(UNTIL_TASK, until_reached)
