"""The "received" rule in groups, its reminder button, and /rules and /set for group admins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Message as TgMessage
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from bot import convert, kept, records
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    GROUP_TEXT,
    allowed,
    answer,
    command,
    command_text,
    emit,
    in_group,
    language_for,
    reply,
    transactional,
)
from bot.i18n import Html
from bot.pipeline import ForgetEvent
from bot.services import group_settings
from bot.services import notices as notice_service
from policies.actions import About, Delete, EditSay, Then
from policies.callbacks import ConvertDemand, ReadNotice, is_kind
from policies.digest import parse_switch
from policies.formalism import ALL_KINDS, Switch, parse_setting
from policies.group_settings import DIGEST, QUIET, GroupSettings, group_mode, quiet_choice
from policies.received import (
    RULE,
    GroupContext,
    Judgement,
    Mode,
    acts_on,
    group_context,
    notice_window_start,
)
from policies.repost import without_demand
from policies.types import Message
from storage.repositories.chats import ChatRepository
from storage.repositories.notices import NoticeRepository
from storage.repositories.people import PeopleRepository

MODE_WORDS = {
    "off": Mode.OFF,
    "关闭": Mode.OFF,
    "关": Mode.OFF,
    "record": Mode.RECORD,
    "仅记录": Mode.RECORD,
    "记录": Mode.RECORD,
    "remove": Mode.REMOVE,
    "删除": Mode.REMOVE,
    "开启": Mode.REMOVE,
    "on": Mode.REMOVE,
}


@transactional
async def on_group_message(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Convert, load, decide: the rule itself lives in policies.received; the pipeline acts."""
    message = convert.human_message(update)
    if message is None:
        return
    verdicts = notice_service.classified(context.deps, session, message)
    if not acts_on(verdicts):
        # Most group messages: nothing to load, nothing to do.
        return
    group = await _context(context, session, message, update.effective_message, needs_sender=_needs_sender(verdicts))
    emit(*context.deps.received_rule.judge(message, group, verdicts).actions)


async def know_together(deps: Deps, session: AsyncSession, updates: list[Update]) -> None:
    """Before a batch's handlers run, what they will ask, read in one query each instead of one
    per update: the latest notice of every group in which a message may be an ack answering no
    message, and whether the senders of ack demands can be written to privately."""
    groups, senders = set(), set()
    for update in updates:
        message = convert.human_message(update)
        if message is None or message.sender is None:
            continue
        verdicts = notice_service.classified(deps, session, message)
        if not acts_on(verdicts):
            continue
        if _answers_no_message(update):
            groups.add(message.chat.id)
        if _needs_sender(verdicts):
            senders.add(message.sender.id)
    if groups:
        await NoticeRepository(session).know_latest(groups, notice_window_start(deps.received_rule, deps.clock()))
    if senders:
        await PeopleRepository(session).know_private_chats(senders, deps.clock())


def _needs_sender(verdicts: Judgement) -> bool:
    """Whether judging the message asks if its sender can be written to (a reminder goes to them)."""
    return verdicts.demand.hit or bool(verdicts.formalism)


def _answers_no_message(update: Update) -> bool:
    """A group message that replies to nothing (an ack in it counts for the latest notice)."""
    chat, raw = update.effective_chat, update.effective_message
    return chat is not None and chat.type in ("group", "supergroup") and convert.replied_message(raw) is None


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
        tracked = _is_tracked_notice(context, target)
        replied = rule.target_of(target.message_id, target.text or target.caption or "", tracked=tracked)
    latest = None
    if replied is None:
        latest = await NoticeRepository(session).latest_since(message.chat.id, notice_window_start(rule, now))
    reachable = needs_sender and await PeopleRepository(session).has_private_chat(message.sender.id)
    settings = chat.settings if chat else None
    return group_context(
        rule,
        message,
        mode=group_mode(settings, deps.group_defaults),
        bot_rights=chat.bot_rights if chat else None,
        now=now,
        replied=replied,
        latest_notice=latest,
        sender_has_private_chat=reachable,
        formalism=formalism_switches(settings),
    )


def _is_tracked_notice(context: JianfuContext, replied: TgMessage) -> bool:
    """The bot's own post with a Read button: a tracked notice."""
    if replied.from_user is None or replied.from_user.id != context.bot.id or replied.reply_markup is None:
        return False
    buttons = (button for row in replied.reply_markup.inline_keyboard for button in row)
    return any(is_kind(button.callback_data, ReadNotice) for button in buttons)


def formalism_switches(settings: GroupSettings | None) -> dict[str, Switch]:
    """The group's own choices for the formalism rules (/set checkin off …)."""
    return dict(settings.formalism) if settings else {}


@transactional
async def convert_pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """The sender chose to turn an ack demand into a tracked notice with a Read button.

    The claim, the new notice and its post are one transaction; the post is retried until
    Telegram takes it. Only then does the demand go and the button's message say so; if
    Telegram refuses the post, the claim is given back and the sender can press again.
    """
    query, deps = update.callback_query, context.deps
    language = await language_for(update, context, session)
    demand = value_of(update, ConvertDemand)
    notice = await NoticeRepository(session).by_message(demand.chat_id, demand.message_id)
    if notice is None or notice.sender_id != query.from_user.id:
        answer(update, deps.catalog.raw(language, "received.convert_gone"), alert=True)
        return
    # The repost drops the demand itself; a message that was nothing but the demand has nothing to repost.
    text = without_demand(deps.received_rule.demands, notice.text)
    if not text:
        answer(update, deps.catalog.raw(language, "received.convert_empty"), alert=True)
        return
    claim = f"notice_converted:{notice.chat_id}:{notice.message_id}"
    if not await records.record_event(deps, session, "notice_converted", notice.chat_id, key=claim):
        # A second press (or a second replica) while the first one's post is under way.
        answer(update, deps.catalog.raw(language, "received.converting"))
        return
    answer(update)
    here = (query.message.chat.id, query.message.message_id)
    failed = (ForgetEvent(claim), EditSay(*here, "received.convert_failed", language=language))
    done = (
        # The original demand goes, so members see one notice to read instead of one to answer;
        # its reads were carried over to the repost, which replaces it in inboxes too.
        Delete(
            notice.chat_id,
            notice.message_id,
            rule=RULE,
            reason="converted to a tracked notice",
            about=About(person_id=notice.sender_id),
        ),
        notice_service.ForgetNotice(notice.id),
        EditSay(*here, "received.converted", language=language),
    )
    then = Then(done=done).also_when_refused(*failed)
    await notice_service.publish_tracked(deps, session, notice, carry_reads=True, then=then, text=text)


@transactional
async def rules(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await in_group(update, context, session):
        return
    chats = ChatRepository(session)
    chat, settings = await chats.get(update.effective_chat.id), await chats.group_settings(update.effective_chat.id)
    deps = context.deps
    language = await language_for(update, context, session)
    received = deps.settings.received
    await reply(
        update,
        context,
        session,
        "received.rules",
        mode=deps.catalog.raw(language, f"received.mode_{group_mode(settings, deps.group_defaults).value}"),
        window=received.notice_window_minutes,
        markers=deps.catalog.raw(language, "list_separator").join(received.urgent_markers),
        can_delete=deps.catalog.raw(
            language, "received.yes" if chat and chat.bot_rights.get("can_delete_messages") else "received.no"
        ),
        formalism=Html(_formalism_lines(deps, language, settings)),
    )


def _formalism_lines(deps: Deps, language: str, settings: GroupSettings) -> str:
    """One line per formalism rule with this group's switch."""
    group = GroupContext(Mode.REMOVE, False, deps.clock(), formalism=formalism_switches(settings))
    rule = deps.received_rule
    return "\n".join(
        deps.catalog.text(
            language,
            "formalism.rules_line",
            rule=deps.catalog.raw(language, f"formalism.name.{kind.value}"),
            switch=deps.catalog.raw(language, f"formalism.switch_{rule.formalism_switch(kind.value, group).value}"),
        )
        for kind in ALL_KINDS
    )


@transactional
async def set_rule(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/set received|quiet|digest VALUE: one of the group's own settings."""
    if not await in_group(update, context, session) or not await allowed(update, context, session, "set"):
        return
    words = command_text(update).split()
    setter = SETTERS.get(words[0].lower()) if len(words) == 2 else None
    formalism = parse_setting(*words) if len(words) == 2 else None
    if formalism is not None:
        await _set_formalism(update, context, session, *formalism)
    elif setter is not None:
        await setter(update, context, session, words[1])
    else:
        await reply(update, context, session, "received.set_usage")


async def _store_settings(
    update: Update,
    context: JianfuContext,
    session: AsyncSession,
    change: Callable[[GroupSettings], GroupSettings],
    values: dict[str, str],
) -> None:
    """Keep the choices in the group's settings and the audit log (`values`: what was set, as typed)."""
    chat_id, chats = update.effective_chat.id, ChatRepository(session)
    # The group may predate the bot's records of it.
    await chats.ensure(chat_id, update.effective_chat.title or "", update.effective_chat.type, context.deps.clock())
    await group_settings.change(context.deps, session, chat_id, update.effective_user.id, change, values)


async def _set_formalism(
    update: Update, context: JianfuContext, session: AsyncSession, kinds: tuple[str, ...], switch: Switch
) -> None:
    """/set checkin|photo|promotion|instant|formalism on|record|off: this group's formalism rules."""
    changed = dict.fromkeys(kinds, switch.value)
    await _store_settings(update, context, session, lambda settings: settings.with_formalism(kinds, switch), changed)
    language = await language_for(update, context, session)
    catalog = context.deps.catalog
    names = catalog.raw(language, "list_separator").join(catalog.raw(language, f"formalism.name.{k}") for k in kinds)
    switched = catalog.raw(language, f"formalism.switch_{switch.value}")
    await reply(update, context, session, "formalism.set_done", rules=names, switch=switched)


async def _set_received(update: Update, context: JianfuContext, session: AsyncSession, value: str) -> None:
    """/set received off|record|remove: this group's "received" rule."""
    mode = MODE_WORDS.get(value.lower())
    if mode is None:
        await reply(update, context, session, "received.set_usage")
        return
    chosen = {RULE: mode.value}
    await _store_settings(update, context, session, lambda settings: replace(settings, received=mode), chosen)
    language = await language_for(update, context, session)
    await reply(
        update,
        context,
        session,
        "received.set_done",
        mode=context.deps.catalog.raw(language, f"received.mode_{mode.value}"),
    )


async def _set_quiet(update: Update, context: JianfuContext, session: AsyncSession, value: str) -> None:
    """/set quiet 22:00-07:00 or /set quiet off: this group's quiet hours."""
    choice = quiet_choice(value)
    if choice is None:
        await reply(update, context, session, "received.set_usage")
        return
    chosen = {QUIET: choice}
    await _store_settings(update, context, session, lambda settings: replace(settings, quiet=choice), chosen)
    await reply(update, context, session, "received.quiet_set", value=choice)


async def _set_digest(update: Update, context: JianfuContext, session: AsyncSession, value: str) -> None:
    """/set digest on|off: a short summary of the group's week, every week."""
    wanted = parse_switch(value)
    if wanted is None:
        await reply(update, context, session, "received.set_usage")
        return
    switched = {DIGEST: "on" if wanted else "off"}
    await _store_settings(update, context, session, lambda settings: replace(settings, digest=wanted), switched)
    await reply(update, context, session, "digest.set_on" if wanted else "digest.set_off")


SETTERS = {
    "received": _set_received,
    "收到": _set_received,
    "quiet": _set_quiet,
    "免打扰": _set_quiet,
    "digest": _set_digest,
    "周报": _set_digest,
}


def register(app: Application, deps: Deps, lane: int) -> None:
    kept.register(deps)
    acks_and_demands = (GROUP_TEXT | (filters.ChatType.GROUPS & filters.Sticker.ALL)) & ~filters.COMMAND
    app.add_handler(MessageHandler(acks_and_demands, on_group_message), group=lane)
    app.add_handler(CallbackQueryHandler(convert_pressed, pattern=kinds(ConvertDemand)))
    app.add_handler(command("rules", rules))
    app.add_handler(command("set", set_rule))
