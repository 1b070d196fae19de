"""Telegram's command menus: per audience (private, groups, group admins, supervisors) and language."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.actions import Result, Telegram
from bot.context import Deps
from policies.actions import Outcome, SetMenu
from policies.help import ChatKind, usable_commands
from policies.roles import Roles

log = logging.getLogger(__name__)

# Each audience's menu is what policies/help.py lets it use where the menu shows: the same
# table as /help and the role checks. The supervisors' menu is scoped to their private chat.
AUDIENCES: dict[str, tuple[ChatKind, Roles]] = {
    "private": (ChatKind.PRIVATE, Roles()),
    "group": (ChatKind.GROUP, Roles()),
    "group_admin": (ChatKind.GROUP, Roles(is_group_admin=True)),
    "supervisor": (ChatKind.PRIVATE, Roles(is_supervisor=True)),
}


def command_menu(audience: str) -> list[tuple[str, str]]:
    """(command, description key) of one audience's menu."""
    chat, roles = AUDIENCES[audience]
    return [(name, f"cmd.{key}") for name, key in usable_commands(chat, roles)]


def _commands(deps: Deps, language: str, audience: str) -> list[BotCommand]:
    return [BotCommand(name, deps.catalog.raw(language, key)) for name, key in command_menu(audience)]


async def publish_commands(bot: ExtBot[None], deps: Deps, supervisors: Iterable[int]) -> None:
    """setMyCommands for every audience and language; a refusal is logged, never fatal."""
    scopes: list[tuple[str, BotCommandScope]] = [
        ("private", BotCommandScopeAllPrivateChats()),
        ("group", BotCommandScopeAllGroupChats()),
        ("group_admin", BotCommandScopeAllChatAdministrators()),
    ]
    scopes += [("supervisor", BotCommandScopeChat(user_id)) for user_id in sorted(supervisors)]
    for menu, scope in scopes:
        await _publish(bot, deps, menu, scope)


def performer(deps: Deps) -> Callable[[Telegram, SetMenu], Awaitable[Result]]:
    """Carry out SetMenu: one person's menu in every language, or its removal."""

    async def set_menu(telegram: Telegram, action: SetMenu) -> Result:
        scope = BotCommandScopeChat(action.chat_id)
        result = Result(Outcome.DONE)
        for language in deps.catalog.languages:
            code = _code(deps, language)
            if action.menu:
                commands = _commands(deps, language, action.menu)
                call = functools.partial(telegram.bot.set_my_commands, commands, scope=scope, language_code=code)
            else:
                call = functools.partial(telegram.bot.delete_my_commands, scope=scope, language_code=code)
            result, _ = await telegram.call("setMyCommands", action.chat_id, call)
            if result.outcome is not Outcome.DONE:
                return result
        return result

    return set_menu


async def _publish(bot: ExtBot[None], deps: Deps, menu: str, scope: BotCommandScope) -> None:
    for language in deps.catalog.languages:
        try:
            await bot.set_my_commands(_commands(deps, language, menu), scope=scope, language_code=_code(deps, language))
        except TelegramError as error:
            # A supervisor who never opened a private chat has no chat to scope to yet.
            log.info("setMyCommands for %s refused: %s", menu, type(error).__name__)


def _code(deps: Deps, language: str) -> str | None:
    # The default language's menu has no language code: it serves everyone else too.
    return None if language == deps.settings.language else language.split("-")[0]
