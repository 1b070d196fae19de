"""Private messages kept for people the bot cannot write to yet, delivered when they send /start.

A sender who never opened a chat with the bot is not corrected in front of the group: the
reminder is kept as a task (`kept_message`, keyed `kept:PERSON:SUBJECT`) until their /start,
and forgotten when its time is up. A replica that delivers it claims it first, so it goes out
once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot.context import Deps
from policies.actions import About, Button, KeyList, Say, SayWhenReachable
from storage.models import Task
from storage.repositories.tasks import TaskRepository

KEPT_TASK = "kept_message"
PREFACE = "received.kept_preface"


def task_key(person_id: int, key: str = "") -> str:
    return f"kept:{person_id}:{key}"


def keep(session: AsyncSession, now: datetime, action: SayWhenReachable) -> None:
    """Keep the message, unless one with the same key is kept already (the first one stays).

    Nothing follows from whether it was new, so it is written with the transaction's other
    scheduled tasks in one statement (TaskRepository.schedule_later)."""
    message = action.message
    payload = {
        "key": message.key,
        "params": {name: _dumped(value) for name, value in message.params.items()},
        "buttons": [[button.key, button.data] for button in message.buttons],
        "kept_at": now.isoformat(),
        # For the group's action log once it is delivered.
        "rule": message.rule,
        "reason": message.reason,
        "group": message.about.chat_id if message.about else 0,
    }
    key = task_key(message.chat_id, action.key)
    TaskRepository(session).schedule_later(KEPT_TASK, key, now + action.keep_for, payload)


async def deliver(session: AsyncSession, person_id: int, now: datetime) -> list[Say]:
    """Take everything kept for the person (oldest first, each once, claimed against other
    replicas) and return it as messages to send; the outbox sends them, retrying as needed."""
    tasks = TaskRepository(session)
    kept = await pending_for(session, person_id, now)
    messages = []
    for task in kept:
        if not await tasks.change_pending(task.id, state="done", done_at=now):
            continue  # another replica, or the sweep forgetting it, took it
        messages.append(_message(person_id, task.payload))
        await tasks.set_payload(task.id, {})
    if not messages:
        return []
    return [Say(person_id, PREFACE, {"count": len(messages)}), *messages]


async def pending_for(session: AsyncSession, person_id: int, now: datetime) -> list[Task]:
    """What is kept for the person and not yet past its days, oldest first (pending tasks are few:
    the state index finds them)."""
    return await TaskRepository(session).pending_by_key_prefix(KEPT_TASK, task_key(person_id), now)


async def forget(deps: Deps, _bot: ExtBot[None], task: Task) -> bool:
    """The person did not start the bot in time: the reminder is dropped, and what it said with it."""
    async with deps.db.transaction() as session:
        await TaskRepository(session).set_payload(task.id, {})
    return True


def _message(person_id: int, payload: dict[str, Any]) -> Say:
    params = {name: _loaded(value) for name, value in payload.get("params", {}).items()}
    buttons = tuple(Button(key, data) for key, data in payload.get("buttons", []))
    about = About(payload["group"]) if payload.get("group") else None
    return Say(
        person_id,
        payload["key"],
        params,
        buttons=buttons,
        rule=payload.get("rule", ""),
        reason=payload.get("reason", ""),
        about=about,
    )


def _dumped(value: Any) -> Any:
    """A message parameter as JSON: a KeyList keeps its shape."""
    if isinstance(value, KeyList):
        return {"key_list": [value.prefix, list(value.items), value.inline]}
    return value


def _loaded(value: Any) -> Any:
    if isinstance(value, dict) and "key_list" in value:
        prefix, items, inline = value["key_list"]
        return KeyList(prefix, tuple(items), inline)
    return value


async def _apply_keep(deps: Deps, session: AsyncSession, action: SayWhenReachable) -> Any:
    from bot.pipeline import FactResult

    keep(session, deps.clock(), action)
    return FactResult(True)  # a SayWhenReachable has no follow-ups that would depend on it


def register(deps: Deps) -> None:
    deps.register_task(KEPT_TASK, forget)
    deps.pipeline.register_fact(SayWhenReachable, _apply_keep)
