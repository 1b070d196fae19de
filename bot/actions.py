"""Carry out policies' Action values against the Bot API; Telegram errors become outcomes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ExtBot

from bot.context import Deps
from policies.actions import Action, Button, Delete, RecordEvent, RecordRead, Say, TellAdminsOnce, TipOnce
from policies.departments import charged_department
from policies.language import pick_language
from storage.repositories.chats import ChatRepository
from storage.repositories.events import EventRepository
from storage.repositories.notices import ReadRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.roles import RoleRepository
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

DELETE_MESSAGE_TASK = "delete_message"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class Outcome(StrEnum):
    DONE = "done"
    NO_RIGHTS = "no_rights"
    TOO_OLD = "too_old"
    NOT_FOUND = "not_found"
    # The person has not started the bot, or blocked it.
    UNREACHABLE = "unreachable"
    # The bot is no longer in the group.
    KICKED = "kicked"
    RETRY_LATER = "retry_later"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Whether trying again later cannot change the result."""
        return self is not Outcome.RETRY_LATER


def classify(error: TelegramError) -> Outcome:
    """Map a Bot API error to what it means for Jianfu."""
    if isinstance(error, RetryAfter | TimedOut):
        return Outcome.RETRY_LATER
    text = error.message.lower()
    if isinstance(error, Forbidden):
        if "kicked" in text or "not a member" in text or "chat was deleted" in text:
            return Outcome.KICKED
        return Outcome.UNREACHABLE
    if isinstance(error, BadRequest):
        return _classify_bad_request(text)
    if isinstance(error, NetworkError):
        return Outcome.RETRY_LATER
    return Outcome.FAILED


def _classify_bad_request(text: str) -> Outcome:
    if "not enough rights" in text or "chat_admin_required" in text or "have no rights" in text:
        return Outcome.NO_RIGHTS
    if "can't be deleted" in text or "can't be edited" in text:
        return Outcome.TOO_OLD
    if "not found" in text:
        # "chat not found" for a private chat means the person never started the bot.
        return Outcome.UNREACHABLE if "chat not found" in text else Outcome.NOT_FOUND
    if "not modified" in text:
        return Outcome.DONE
    return Outcome.FAILED


async def send(
    bot: ExtBot[None],
    chat_id: int,
    text: str,
    *,
    buttons: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> tuple[Outcome, Message | None]:
    """sendMessage as HTML; never raises for a Telegram error."""
    try:
        sent = await bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=buttons,
            reply_parameters=(
                ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
            ),
            link_preview_options=NO_PREVIEW,
        )
    except TelegramError as error:
        return _failed("sendMessage", chat_id, error), None
    return Outcome.DONE, sent


async def send_photo(
    bot: ExtBot[None], chat_id: int, photo: bytes | str, caption: str, *, filename: str = "chart.png"
) -> tuple[Outcome, Message | None]:
    """sendPhoto with an HTML caption: PNG bytes to upload, or the file id of one sent before."""
    upload = InputFile(photo, filename=filename) if isinstance(photo, bytes) else photo
    try:
        sent = await bot.send_photo(chat_id, upload, caption=caption, parse_mode=ParseMode.HTML)
    except TelegramError as error:
        return _failed("sendPhoto", chat_id, error), None
    return Outcome.DONE, sent


async def delete(bot: ExtBot[None], chat_id: int, message_id: int) -> Outcome:
    try:
        await bot.delete_message(chat_id, message_id)
    except TelegramError as error:
        return _failed("deleteMessage", chat_id, error)
    return Outcome.DONE


async def edit(
    bot: ExtBot[None], chat_id: int, message_id: int, text: str, buttons: InlineKeyboardMarkup | None = None
) -> Outcome:
    try:
        await bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=buttons,
            link_preview_options=NO_PREVIEW,
        )
    except TelegramError as error:
        return _failed("editMessageText", chat_id, error)
    return Outcome.DONE


async def call(method: str, chat_id: int, coroutine: Any) -> Outcome:
    """Await any other Bot API call, turning its error into an outcome."""
    try:
        await coroutine
    except TelegramError as error:
        return _failed(method, chat_id, error)
    return Outcome.DONE


def _failed(method: str, chat_id: int, error: TelegramError) -> Outcome:
    outcome = classify(error)
    # The error's type and outcome only: descriptions may quote user content. A private chat's
    # id is the person's user id, so it is not logged (a whistleblower's chat must leave no trace).
    where = chat_id if chat_id < 0 else "a private chat"
    log.info("%s to %s: %s -> %s", method, where, type(error).__name__, outcome.value)
    return outcome


class Executor:
    """Runs actions for one update or job, inside its session, and records what happened."""

    def __init__(self, deps: Deps, bot: ExtBot[None], session: AsyncSession) -> None:
        self.deps, self.bot, self.session = deps, bot, session

    async def run(self, actions: Iterable[Action], *, language: str | None = None) -> list[Outcome]:
        return [await self.run_one(action, language=language) for action in actions]

    async def run_one(self, action: Action, *, language: str | None = None) -> Outcome:
        if isinstance(action, Say):
            return await self._say(action, action.language or language)
        if isinstance(action, Delete):
            outcome = await delete(self.bot, action.chat_id, action.message_id)
            await self.note(action.chat_id, outcome)
            return outcome
        if isinstance(action, RecordRead):
            new = await ReadRepository(self.session).record(
                action.chat_id, action.message_id, action.person_id, action.via, self.deps.clock()
            )
            return Outcome.DONE if new else Outcome.NOT_FOUND
        if isinstance(action, RecordEvent):
            return await self.record_event(action.kind, action.chat_id, key=action.key, sender_id=action.sender_id)
        if isinstance(action, TipOnce):
            return await self._tip(action)
        return await self._tell_admins(action)

    async def _say(self, action: Say, language: str | None) -> Outcome:
        language = language or await self.language_of(action.chat_id)
        text = self.deps.catalog.text(language, action.key, **action.params)
        outcome, sent = await send(self.bot, action.chat_id, text, buttons=self.keyboard(action.buttons, language), reply_to=action.reply_to)
        if sent is not None and action.expires:
            await self.expire_later(sent, action.expire_after)
        await self.note(action.chat_id, outcome)
        return outcome

    def keyboard(self, buttons: tuple[Button, ...], language: str | None) -> InlineKeyboardMarkup | None:
        if not buttons:
            return None
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(self.deps.catalog.raw(language, button.key), callback_data=button.data)] for button in buttons]
        )

    async def language_of(self, chat_id: int) -> str:
        """A person's language in private chats; the group's override (or the default) in groups."""
        default = self.deps.settings.language
        if chat_id > 0:
            person = await PeopleRepository(self.session).get(chat_id)
            if person is None:
                return default
            return pick_language(default=default, person_choice=person.language, telegram_code=person.telegram_language)
        chat = await ChatRepository(self.session).snapshot(chat_id)
        return pick_language(default=default, group_override=chat.language if chat else None)

    async def record_event(
        self, kind: str, chat_id: int, *, key: str | None = None, sender_id: int | None = None
    ) -> Outcome:
        """Count a fact on the local day it happened, against the department it is charged to."""
        department_id = await self.department_for(chat_id, sender_id)
        now = self.deps.clock()
        recorded = await EventRepository(self.session).record(
            kind,
            at=now,
            day=now.astimezone(self.deps.settings.tz).date(),
            department_id=department_id,
            chat_id=chat_id,
            key=key,
        )
        return Outcome.DONE if recorded else Outcome.NOT_FOUND

    async def department_for(self, chat_id: int, sender_id: int | None) -> int | None:
        """The sender's department when the sender is the contact of exactly one, else the group's."""
        contact_of = await RoleRepository(self.session).contact_department_ids(sender_id) if sender_id is not None else set()
        group_department = None
        if len(contact_of) != 1:
            # Looked up only when it decides (policies.departments.charged_department).
            chat = await ChatRepository(self.session).snapshot(chat_id)
            group_department = chat.department_id if chat else None
        return charged_department(contact_of, group_department)

    async def _tip(self, action: TipOnce) -> Outcome:
        now, remembered = self.deps.clock(), self.deps.recently_tipped
        last = remembered.get((action.key, action.person_id))
        if last is not None and now - last < action.period:
            return Outcome.NOT_FOUND
        remembered[(action.key, action.person_id)] = now
        if not await PeopleRepository(self.session).claim_tip(action.person_id, now, action.period):
            return Outcome.NOT_FOUND
        return await self._say(Say(action.person_id, action.key), None)

    async def _tell_admins(self, action: TellAdminsOnce) -> Outcome:
        """Privately, to every admin who opened a chat with the bot; once per chat and reason."""
        key = f"told:{action.key}:{action.chat_id}"
        if await EventRepository(self.session).exists(key):
            return Outcome.NOT_FOUND
        chat = await ChatRepository(self.session).get(action.chat_id)
        admins = await PeopleRepository(self.session).with_private_chat(await ChatRepository(self.session).admin_ids(action.chat_id))
        params = {"title": chat.title if chat else str(action.chat_id), **action.params}
        outcomes = [await self._say(Say(admin, action.key, params), None) for admin in admins]
        if Outcome.DONE in outcomes:
            await self.record_event("admins_told", action.chat_id, key=key)
            return Outcome.DONE
        return Outcome.UNREACHABLE

    async def expire_later(self, message: Message, after: timedelta | None = None) -> None:
        """Schedule the bot's own group message for deletion: the group stays quiet."""
        due = self.deps.clock() + (after or self.deps.settings.group_messages.expire_after)
        key = f"{DELETE_MESSAGE_TASK}:{message.chat_id}:{message.message_id}"
        payload = {"chat_id": message.chat_id, "message_id": message.message_id}
        await TaskRepository(self.session).schedule(DELETE_MESSAGE_TASK, key, due, payload)

    async def note(self, chat_id: int, outcome: Outcome) -> None:
        """Remember what an outcome says about a chat: a blocked person, a kicked bot."""
        if outcome is Outcome.UNREACHABLE and chat_id > 0:
            await PeopleRepository(self.session).set_private_chat(chat_id, False)
        elif outcome in (Outcome.KICKED, Outcome.UNREACHABLE) and chat_id < 0:
            # "chat not found" for a group: it was deleted or the bot is long gone.
            await ChatRepository(self.session).record_bot_status(
                chat_id, status="kicked", rights={}, now=self.deps.clock()
            )
