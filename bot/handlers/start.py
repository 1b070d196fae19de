"""/start, /help and /lang: the conversation basics, in the person's or group's language."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from bot import access, kept
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    allowed,
    command,
    command_text,
    emit,
    is_group,
    language_for,
    reply,
    transactional,
)
from bot.i18n import Html
from policies.help import ChatKind, help_sections
from policies.language import normalize_language
from policies.roles import Roles
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository


@transactional
async def start(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if is_group(update):
        await reply(update, context, session, "start.group")
        return
    await PeopleRepository(session).set_private_chat(update.effective_user.id, True)
    language = await language_for(update, context, session)
    catalog = context.deps.catalog
    whoami = catalog.text(language, "whoami.text", user_id=update.effective_user.id)
    await reply(update, context, session, "start.private")
    await reply_raw(update, context, session, whoami)
    await _deliver_kept(update, context, session)


async def _deliver_kept(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Reminders kept while the bot could not write to this person (see bot.kept)."""
    emit(*await kept.deliver(session, update.effective_user.id, context.deps.clock()))


async def reply_raw(update: Update, context: JianfuContext, session: AsyncSession, html: str) -> None:
    await reply(update, context, session, "raw", text=Html(html))


@transactional
async def help_command(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, user = context.deps, update.effective_user
    roles = await access.roles_of(deps, session, context.bot, user.id, update.effective_chat, update.effective_message)
    language = await language_for(update, context, session)
    chat = ChatKind.GROUP if is_group(update) else ChatKind.PRIVATE
    await reply_raw(update, context, session, help_text(deps, language, chat, roles))


def help_text(deps: Deps, language: str, chat: ChatKind, roles: Roles) -> str:
    """What this person may use in this kind of chat, section by section (policies/help.py's table)."""
    catalog, temporary = deps.catalog, deps.settings.temporary
    numbers = {"close_days": temporary.close_after_days, "max_extend_days": temporary.max_extend_days}
    parts = [catalog.raw(language, f"help.header_{chat.value}")]
    for section, usages in help_sections(chat, roles):
        lines = [catalog.text(language, f"help.line.{usage.line}", **numbers) for usage in usages]
        parts.append("\n".join([catalog.raw(language, f"help.section.{section}"), *lines]))
    parts.append(catalog.raw(language, f"help.footer_{chat.value}"))
    return "\n\n".join(parts)


@transactional
async def lang(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    choice = command_text(update)
    if not choice:
        language = await language_for(update, context, session)
        await reply(update, context, session, "lang.current", language=_language_name(context, language, language))
        return
    if is_group(update):
        await _set_group_language(update, context, session, choice)
    else:
        await _set_personal_language(update, context, session, choice)


async def _set_personal_language(update: Update, context: JianfuContext, session: AsyncSession, choice: str) -> None:
    language = normalize_language(choice)
    if language is None:
        await reply(update, context, session, "lang.unknown", value=choice)
        return
    await PeopleRepository(session).set_language(update.effective_user.id, language)
    await reply(update, context, session, "lang.set")


async def _set_group_language(update: Update, context: JianfuContext, session: AsyncSession, choice: str) -> None:
    if not await allowed(update, context, session, "lang_group"):
        return
    language = None if choice.lower() == "auto" else normalize_language(choice)
    if language is None and choice.lower() != "auto":
        await reply(update, context, session, "lang.unknown", value=choice)
        return
    chat_id = update.effective_chat.id
    await ChatRepository(session).set_fields(chat_id, language=language)
    await _audit_language(context, session, update.effective_user.id, chat_id, language)
    key = "lang.group_auto" if language is None else "lang.group_set"
    await reply(update, context, session, key, language=_language_name(context, language or "auto", language))


async def _audit_language(
    context: JianfuContext, session: AsyncSession, actor: int, chat_id: int, language: str | None
) -> None:
    await AuditRepository(session).record(
        "chat.language", actor_id=actor, now=context.deps.clock(), chat_id=chat_id, target=language or "auto"
    )


def _language_name(context: JianfuContext, language: str, speak_in: str | None) -> str:
    return context.deps.catalog.raw(speak_in, f"lang.name_{language}")


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("start", start))
    app.add_handler(command("help", help_command))
    app.add_handler(command("lang", lang))
