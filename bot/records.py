"""Database facts several features and the pipeline share: languages, departments, counted events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Deps
from policies.actions import Outcome
from policies.departments import charged_department
from policies.language import pick_language
from storage.repositories.chats import ChatRepository
from storage.repositories.events import EventRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.roles import RoleRepository
from storage.repositories.tasks import TaskRepository

DELETE_MESSAGE_TASK = "delete_message"


async def language_of(deps: Deps, session: AsyncSession, chat_id: int) -> str:
    """A person's language in private chats; the group's override (or the default) in groups."""
    default = deps.settings.language
    if chat_id > 0:
        person = await PeopleRepository(session).get(chat_id)
        if person is None:
            return default
        return pick_language(default=default, person_choice=person.language, telegram_code=person.telegram_language)
    chat = await ChatRepository(session).snapshot(chat_id)
    return pick_language(default=default, group_override=chat.language if chat else None)


async def department_for(deps: Deps, session: AsyncSession, chat_id: int, sender_id: int | None) -> int | None:
    """The sender's department when the sender is the contact of exactly one, else the group's."""
    contact_of = await RoleRepository(session).contact_department_ids(sender_id) if sender_id is not None else set()
    group_department = None
    if len(contact_of) != 1:
        # Looked up only when it decides (policies.departments.charged_department).
        chat = await ChatRepository(session).snapshot(chat_id)
        group_department = chat.department_id if chat else None
    return charged_department(contact_of, group_department)


async def record_event(
    deps: Deps, session: AsyncSession, kind: str, chat_id: int, *, key: str | None = None, sender_id: int | None = None
) -> bool:
    """Count a fact on the local day it happened, against the department it is charged to.

    True when it was recorded now (False: its key was recorded before)."""
    return await EventRepository(session).record(
        **await event_row(deps, session, kind, chat_id, key=key, sender_id=sender_id)
    )


async def event_row(
    deps: Deps, session: AsyncSession, kind: str, chat_id: int, *, key: str | None = None, sender_id: int | None = None
) -> dict[str, Any]:
    """The fact as it is counted (EventRepository.record's keywords): now, on the local day, for its department."""
    department_id = await department_for(deps, session, chat_id, sender_id)
    now = deps.clock()
    day = now.astimezone(deps.settings.tz).date()
    return {"kind": kind, "at": now, "day": day, "department_id": department_id, "chat_id": chat_id, "key": key}


async def expire_later(
    deps: Deps, session: AsyncSession, chat_id: int, message_id: int, after: timedelta | None = None
) -> None:
    """Schedule the bot's own group message for deletion: the group stays quiet."""
    due = deps.clock() + (after or deps.settings.group_messages.expire_after)
    key = f"{DELETE_MESSAGE_TASK}:{chat_id}:{message_id}"
    payload = {"chat_id": chat_id, "message_id": message_id}
    await TaskRepository(session).schedule(DELETE_MESSAGE_TASK, key, due, payload)


async def note(deps: Deps, session: AsyncSession, chat_id: int, outcome: Outcome) -> None:
    """Remember what an outcome says about a chat: a blocked person, a kicked bot."""
    if outcome is Outcome.UNREACHABLE and chat_id > 0:
        await PeopleRepository(session).set_private_chat(chat_id, False)
    elif outcome in (Outcome.KICKED, Outcome.UNREACHABLE) and chat_id < 0:
        # "chat not found" for a group: it was deleted or the bot is long gone.
        await ChatRepository(session).record_bot_status(chat_id, status="kicked", rights={}, now=deps.clock())
