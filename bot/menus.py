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

log = logging.getLogger(__name__)

# Which commands each audience sees in Telegram's menu.
COMMAND_MENUS: dict[str, tuple[str, ...]] = {
    "private": ("start", "inbox", "log", "whistle", "help", "lang"),
    "group": ("help", "notice", "rules", "status"),
    "group_admin": ("help", "notice", "readers", "rules", "set", "register", "lang", "temp", "done", "reopen", "extend", "status", "log"),
    "supervisor": ("start", "inbox", "log", "whistle", "help", "lang", "dept", "groups", "whistles", "digest", "grant", "revoke"),
}


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
                commands = [BotCommand(name, deps.catalog.raw(language, f"cmd.{name}")) for name in COMMAND_MENUS[action.menu]]
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
        commands = [BotCommand(name, deps.catalog.raw(language, f"cmd.{name}")) for name in COMMAND_MENUS[menu]]
        try:
            await bot.set_my_commands(commands, scope=scope, language_code=_code(deps, language))
        except TelegramError as error:
            # A supervisor who never opened a private chat has no chat to scope to yet.
            log.info("setMyCommands for %s refused: %s", menu, type(error).__name__)


def _code(deps: Deps, language: str) -> str | None:
    # The default language's menu has no language code: it serves everyone else too.
    return None if language == deps.settings.language else language.split("-")[0]
