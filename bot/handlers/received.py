"""The "received" rule in groups, its reminder button, and /rules and /set for group admins."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Message as TgMessage
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot import actions, convert
from bot.context import Deps, JianfuContext
from bot.handlers._common import allowed, command, command_text, in_group, language_for, reply, transactional
from bot.handlers.notices import GROUP_TEXT, classified, publish_tracked, refresh_counter
from policies.actions import Action, Delete, RecordEvent, RecordRead, Say, TellAdminsOnce, TipOnce
from policies.digest import parse_switch
from policies.received import (
    CONVERT_PREFIX,
    RULE,
    GroupContext,
    Mode,
    acts_on,
    group_context,
    mode_of,
    notice_window_start,
)
from policies.types import Message
from storage.models import Chat
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository, ChatSnapshot
from storage.repositories.notices import NoticeRepository
from storage.repositories.people import PeopleRepository

# After notices are collected (group 1), so an ack finds the notice it answers.
RULE_GROUP = 2
MODE_WORDS = {
    "off": Mode.OFF, "关闭": Mode.OFF, "关": Mode.OFF,
    "record": Mode.RECORD, "仅记录": Mode.RECORD, "记录": Mode.RECORD,
    "remove": Mode.REMOVE, "删除": Mode.REMOVE, "开启": Mode.REMOVE, "on": Mode.REMOVE,
}


def group_mode(deps: Deps, chat: Chat | ChatSnapshot | None) -> Mode:
    return mode_of(chat.settings if chat else None, deps.settings.received.mode)


@transactional
async def on_group_message(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Convert, load, decide, act, record: the rule itself lives in policies.received."""
    message = convert.human_message(update)
    if message is None:
        return
    verdicts = classified(context, session, message)
    if not acts_on(verdicts):
        # Most group messages: nothing to load, nothing to do.
        return
    group = await _context(context, session, message, update.effective_message, needs_sender=verdicts.demand.hit)
    decided = context.deps.received_rule.judge(message, group, verdicts).actions
    await _act(context, session, decided, _bot_posts(context, update.effective_message, group))


def _bot_posts(context: JianfuContext, raw: TgMessage, group: GroupContext) -> set[int]:
    """Targets that may be tracked notices (the bot's own posts): only their counters can move."""
    replied = convert.replied_message(raw)
    if replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id:
        return {replied.message_id}
    return {group.recent_notice.message_id} if group.recent_notice is not None and group.recent_notice.tracked else set()


async def _context(
    context: JianfuContext, session: AsyncSession, message: Message, raw: TgMessage, *, needs_sender: bool
) -> GroupContext:
    """Gather the facts; policies.received.group_context decides (as it does for `jianfu replay`).
    Every query here runs for every ack, so there are few."""
    deps, rule, now = context.deps, context.deps.received_rule, context.deps.clock()
    chat = await ChatRepository(session).snapshot(message.chat.id)
    replied = None
    if (target := convert.replied_message(raw)) is not None:
        # Telegram sends the replied-to message along: judge it from its text, no lookup.
        replied = rule.target_of(target.message_id, target.text or target.caption or "")
    latest = None
    if replied is None:
        latest = await NoticeRepository(session).latest_since(message.chat.id, notice_window_start(rule, now))
    sender = await PeopleRepository(session).get(message.sender.id) if needs_sender else None
    return group_context(
        rule, message, mode=group_mode(deps, chat), bot_rights=chat.bot_rights if chat else None, now=now,
        replied=replied, latest_notice=latest, sender_has_private_chat=bool(sender and sender.has_private_chat),
    )


async def _act(
    context: JianfuContext, session: AsyncSession, decided: tuple[Action, ...], bot_posts: set[int] = frozenset()
) -> None:
    """Run the decided actions; a tip or reminder follows only if what it is about happened."""
    executor = actions.Executor(context.deps, context.bot, session)
    followups = True
    for action in decided:
        if isinstance(action, TipOnce | Say) and not followups:
            continue
        outcome = await executor.run_one(action)
        if isinstance(action, Delete):
            await _after_delete(executor, action, outcome)
            # No tip about a removal that did not happen.
            followups = outcome is actions.Outcome.DONE
        elif isinstance(action, RecordEvent):
            # Recorded before (an edit, a redelivered update): the sender was reminded then.
            followups = outcome is actions.Outcome.DONE
        elif isinstance(action, RecordRead) and outcome is actions.Outcome.DONE and action.message_id in bot_posts:
            await _refresh_if_tracked(context, session, action)


async def _refresh_if_tracked(context: JianfuContext, session: AsyncSession, read: RecordRead) -> None:
    """A removed ack under a tracked notice moves its "已读 n/m" counter too."""
    notice = await NoticeRepository(session).by_message(read.chat_id, read.message_id)
    if notice is not None and notice.tracked:
        await refresh_counter(context, session, notice)


async def _after_delete(executor: actions.Executor, action: Delete, outcome: actions.Outcome) -> None:
    """Count a removed ack; when Telegram refuses, the read stays recorded and admins learn why."""
    if outcome is actions.Outcome.DONE:
        await executor.record_event("ack_removed", action.chat_id)
    elif outcome is actions.Outcome.NO_RIGHTS:
        await executor.run_one(TellAdminsOnce(action.chat_id, "received.admins_missing_delete", rule=RULE))
    elif outcome is actions.Outcome.TOO_OLD:
        await executor.run_one(TellAdminsOnce(action.chat_id, "received.admins_too_old", rule=RULE))


@transactional
async def convert_pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """The sender chose to turn an ack demand into a tracked notice with a Read button."""
    query = update.callback_query
    language = await language_for(update, context, session)
    catalog = context.deps.catalog
    chat_id, _, message_id = query.data.removeprefix(CONVERT_PREFIX).partition(":")
    well_formed = message_id.isdigit() and chat_id.lstrip("-").isdigit()
    notice = await NoticeRepository(session).by_message(int(chat_id), int(message_id)) if well_formed else None
    if notice is None or notice.sender_id != query.from_user.id:
        await actions.call("answerCallbackQuery", query.from_user.id, query.answer(catalog.raw(language, "received.convert_gone"), show_alert=True))
        return
    executor = actions.Executor(context.deps, context.bot, session)
    claim = f"notice_converted:{notice.chat_id}:{notice.message_id}"
    if await executor.record_event("notice_converted", notice.chat_id, key=claim) is not actions.Outcome.DONE:
        # A second press (or a second replica): it was converted already.
        await actions.call("answerCallbackQuery", query.from_user.id, query.answer(catalog.raw(language, "received.converted")))
        return
    _outcome, tracked = await publish_tracked(context.deps, context.bot, session, notice)
    if tracked is None:
        await actions.call("answerCallbackQuery", query.from_user.id, query.answer(catalog.raw(language, "received.convert_failed"), show_alert=True))
        return
    await actions.call("answerCallbackQuery", query.from_user.id, query.answer())
    # The original demand goes, so members see one notice to read instead of one to answer;
    # its reads were carried over to the repost, which replaces it in inboxes too.
    await actions.delete(context.bot, notice.chat_id, notice.message_id)
    await NoticeRepository(session).remove(notice)
    await actions.edit(context.bot, query.message.chat.id, query.message.message_id, catalog.text(language, "received.converted"))


@transactional
async def rules(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await in_group(update, context, session):
        return
    chat = await ChatRepository(session).get(update.effective_chat.id)
    deps = context.deps
    language = await language_for(update, context, session)
    received = deps.settings.received
    await reply(
        update, context, session, "received.rules",
        mode=deps.catalog.raw(language, f"received.mode_{group_mode(deps, chat).value}"),
        window=received.notice_window_minutes,
        markers=deps.catalog.raw(language, "list_separator").join(received.urgent_markers),
        can_delete=deps.catalog.raw(language, "received.yes" if chat and chat.bot_rights.get("can_delete_messages") else "received.no"),
    )


@transactional
async def set_rule(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/set received|quiet|digest VALUE: one of the group's own settings."""
    if not await in_group(update, context, session) or not await allowed(update, context, session, "set"):
        return
    words = command_text(update).split()
    setter = SETTERS.get(words[0].lower()) if len(words) == 2 else None
    if setter is None:
        await reply(update, context, session, "received.set_usage")
        return
    await setter(update, context, session, words[1])


async def _store_setting(update: Update, context: JianfuContext, session: AsyncSession, name: str, value: str) -> None:
    """Keep the choice in the group's settings and the audit log."""
    chat_id, chats = update.effective_chat.id, ChatRepository(session)
    # The group may predate the bot's records of it.
    await chats.ensure(chat_id, update.effective_chat.title or "", update.effective_chat.type, context.deps.clock())
    chat = await chats.get(chat_id)
    await chats.set_fields(chat_id, settings={**(chat.settings or {}), name: value})
    await AuditRepository(session).record("chat.set", actor_id=update.effective_user.id, now=context.deps.clock(), chat_id=chat_id, target=f"{name}={value}")


async def _set_received(update: Update, context: JianfuContext, session: AsyncSession, value: str) -> None:
    """/set received off|record|remove: this group's "received" rule."""
    mode = MODE_WORDS.get(value.lower())
    if mode is None:
        await reply(update, context, session, "received.set_usage")
        return
    await _store_setting(update, context, session, RULE, mode.value)
    language = await language_for(update, context, session)
    await reply(update, context, session, "received.set_done", mode=context.deps.catalog.raw(language, f"received.mode_{mode.value}"))


QUIET_RANGE = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d$")


async def _set_quiet(update: Update, context: JianfuContext, session: AsyncSession, value: str) -> None:
    """/set quiet 22:00-07:00 or /set quiet off: this group's quiet hours."""
    choice = "off" if value.lower() in ("off", "关闭") else value
    if choice != "off" and not QUIET_RANGE.match(choice):
        await reply(update, context, session, "received.set_usage")
        return
    await _store_setting(update, context, session, "quiet", choice)
    await reply(update, context, session, "received.quiet_set", value=choice)


async def _set_digest(update: Update, context: JianfuContext, session: AsyncSession, value: str) -> None:
    """/set digest on|off: a short summary of the group's week, every week."""
    wanted = parse_switch(value)
    if wanted is None:
        await reply(update, context, session, "received.set_usage")
        return
    await _store_setting(update, context, session, "digest", "on" if wanted else "off")
    await reply(update, context, session, "digest.set_on" if wanted else "digest.set_off")


SETTERS = {
    "received": _set_received, "收到": _set_received,
    "quiet": _set_quiet, "免打扰": _set_quiet,
    "digest": _set_digest, "周报": _set_digest,
}


def register(app: Application, deps: Deps) -> None:
    acks_and_demands = (GROUP_TEXT | (filters.ChatType.GROUPS & filters.Sticker.ALL)) & ~filters.COMMAND
    app.add_handler(MessageHandler(acks_and_demands, on_group_message), group=RULE_GROUP)
    app.add_handler(CallbackQueryHandler(convert_pressed, pattern=f"^{CONVERT_PREFIX}"))
    app.add_handler(command("rules", rules))
    app.add_handler(command("set", set_rule))
