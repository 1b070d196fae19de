"""/help lists what the asking person may use where they ask, and the handlers agree with it."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bot.handlers.start import help_text
from bot.i18n import Catalog
from policies.help import USAGES, ChatKind, usable_commands
from policies.roles import Roles
from tests.bot.conftest import ADMIN, GROUP, MEMBER, SUPERVISOR, Harness, make_settings

CATALOG = Catalog.load()
ROLES = {MEMBER: Roles(), ADMIN: Roles(is_group_admin=True), SUPERVISOR: Roles(is_supervisor=True)}
# An argument each command accepts without harm, so an allowed command is answered, not refused.
ARGUMENTS = {
    "lang": "en", "status": "", "notice": "明天上午停水", "urgent": "今晚有台风，请注意", "set": "", "temp": "防汛",
    "extend": "1 需要", "dept": "list", "digest": "this", "grant": "", "revoke": "", "register": "",
}  # fmt: skip


def listed(text: str) -> set[str]:
    """The commands a help text offers: every line starting with one."""
    return set(re.findall(r"^/(\w+)", text, re.MULTILINE))


async def help_for(harness: Harness, person: int, chat: ChatKind, language: str) -> str:
    await harness.private(person, f"/lang {language}")
    where = person if chat is ChatKind.PRIVATE else GROUP
    await harness.command(where, person, "/help")
    return harness.last_text(where)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("chat", [ChatKind.PRIVATE, ChatKind.GROUP])
@pytest.mark.parametrize("person", [MEMBER, ADMIN, SUPERVISOR], ids=["member", "admin", "supervisor"])
async def test_help_lists_exactly_what_the_person_may_use_there(
    harness: Harness, person: int, chat: ChatKind, language: str
) -> None:
    text = await help_for(harness, person, chat, language)
    assert listed(text) == {name for name, _key in usable_commands(chat, ROLES[person])}
    header = CATALOG.raw(language, f"help.header_{chat.value}")
    assert text.startswith(header.replace("<b>", "").replace("</b>", ""))
    if chat is ChatKind.GROUP:
        assert not re.search(r"/whistle\b", text)  # whistle is private only: nobody is seen asking about it
        assert ("/whistles" in text) is False


async def test_help_takes_the_close_and_extension_days_from_the_configuration(harness: Harness) -> None:
    await harness.command(GROUP, ADMIN, "/help")
    assert "/done — 工作完成，3 天后关闭" in harness.last_text(GROUP)
    settings = make_settings(temporary={"close_after_days": 5, "max_extend_days": 1})
    deps = dataclasses.replace(harness.deps, settings=settings)
    text = help_text(deps, "en", ChatKind.GROUP, ROLES[ADMIN])
    assert "/done — work complete, closes in 5 days" in text and "(at most 1 day)" in text
    assert "5 天后关闭" in help_text(deps, "zh-CN", ChatKind.GROUP, ROLES[ADMIN])


def refused(harness: Harness, chat_id: int, before: int) -> bool | None:
    """Whether the bot's answer since `before` turns the command away; None when it said nothing."""
    answers = harness.texts(chat_id)[before:]
    refusals = [
        CATALOG.text(language, key, role=CATALOG.raw(language, role))
        for language in ("zh-CN", "en")
        for key in (
            "error.not_allowed",
            "error.private_only",
            "error.group_only",
            "whistle.moved_group",
            "error.unknown_command",
        )
        for role in ("role.supervisor", "role.group_admin")
    ]
    return any(answer in refusals for answer in answers) if answers else None


@pytest.mark.parametrize("chat", [ChatKind.PRIVATE, ChatKind.GROUP])
@pytest.mark.parametrize("person", [MEMBER, ADMIN, SUPERVISOR], ids=["member", "admin", "supervisor"])
async def test_the_handlers_allow_what_help_lists_and_refuse_the_rest(
    harness: Harness, person: int, chat: ChatKind
) -> None:
    await harness.private(person, "/start")
    usable = {name for name, _key in usable_commands(chat, ROLES[person])}
    where = person if chat is ChatKind.PRIVATE else GROUP
    for command in sorted({usage.command for usage in USAGES}):
        if command in ("start", "help"):
            continue  # answered everywhere: in a group /start only points to the private chat
        before = len(harness.texts(where))
        await harness.command(where, person, f"/{command} {ARGUMENTS.get(command, '')}".rstrip())
        verdict = refused(harness, where, before)
        # A usable command is never turned away (an /urgent notice is kept without a word); any other
        # is refused, or ignored (/cancel in a group).
        assert verdict is not True if command in usable else verdict is not False, f"/{command} by {person} in {chat}"
        if command == "whistle" and chat is ChatKind.PRIVATE:
            await harness.private(person, "/cancel")
