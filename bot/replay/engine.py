"""The replay: every group message of an export through the rules the live bot runs, in time order.

Nothing here decides what a rule does. From the neutral Message on, each step calls what the live
handlers call: the received rule's classify/judge with the group context built by
policies.received.group_context, notice_facts for what is kept as a notice, find_deadline,
after_hours, the duplicate rule (CopyFinder) and the temporary-group transitions. What the live bot
reads from Telegram or its database, replay reads from the export (and the registry when given):

- the bot is taken to be an admin with every right it asks for (the question replay answers is
  what it would do once given them); each group's mode, quiet hours and formalism switches are
  the deployment's, or the group's own settings when the registry knows the group;
- the export keeps only a message's final text: an edited message is judged once, as it ends up;
- the export does not say who is a group admin: /temp, /done, /reopen and /extend count from anyone.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.handlers.notice_command import MAX_NOTICE_CHARS
from bot.handlers.notices import URGENT_COMMAND
from bot.replay.export import SUPERGROUP_TYPES, ChatIndex, replied_to
from bot.replay.messages import Command, MessageReader, command_of, moment_of, person_id, text_of
from bot.replay.registry import Registry
from bot.settings import Settings
from policies.actions import Action, Delete, RecordEvent, RecordRead, Say, SayWhenReachable
from policies.commands import ParseError
from policies.deadlines import find_deadline
from policies.departments import charged_department
from policies.duplicates import CopyFinder
from policies.formalism import Switch
from policies.group_settings import GroupDefaults, group_mode, quiet_hours, read_stored
from policies.lifecycle import GroupEvent, TemporaryGroup, may, parse_extend, parse_temp, until_due
from policies.notices import NoticeKind
from policies.quiet import QuietHours, after_hours, hold_until
from policies.received import (
    FORMALISM_KIND_NAMES,
    Judgement,
    Mode,
    NoticeFacts,
    ReceivedRule,
    Target,
    acts_on,
    command_notice_facts,
    group_context,
    notice_facts,
)
from policies.types import BotRights, ChatRef, ChatType, Message, Person

# What replay assumes of the bot in every group: an admin with every right it asks for.
FULL_RIGHTS = BotRights(True, True, True, True, True, True).as_dict()
# The formalism demands the received rule counts (checkin, photo_proof, promotion, instant_reply).
FORMALISM_KINDS = FORMALISM_KIND_NAMES
FORMALISM_EVENT = "formalism_"
# Verdicts kept per (kind, text, sticker emoji): acks and stock phrases repeat ("收到" from
# everyone), and classify is pure, so a repeat costs a look-up. Long texts rarely repeat; the memo
# is bounded. A text whose ack verdict read the sender's name is kept as READ_NAME, its verdicts
# per (kind, text, sticker emoji, sender name).
MEMO_LIMIT, MEMO_TEXT_CHARS = 100_000, 200
READ_NAME = object()
# Counted per sender: what a person sends, never what they answer.
SENDER_KINDS = frozenset(
    {"notices", "data_requests", "ack_demands", "after_hours_notices", "duplicate_notices", *FORMALISM_KINDS}
)
_URGENT_COMMAND = re.compile(URGENT_COMMAND)
# What classifying a message gives: the verdicts, the message as a notice (or None), whether the rule acts.
Verdicts = tuple[Judgement, NoticeFacts | None, bool]


@dataclass(frozen=True)
class ReplaySettings:
    """The deployment's configuration, as far as replay reads it."""

    rule: ReceivedRule
    zone: tzinfo
    mode: str
    quiet_start: str
    quiet_end: str
    quiet_weekends: bool
    duplicate_window: timedelta
    close_after_days: int
    max_extend_days: int
    idle_days: int
    seconds_per_message: float

    @property
    def group_defaults(self) -> GroupDefaults:
        return GroupDefaults(self.mode, self.quiet_start, self.quiet_end, self.quiet_weekends)

    @classmethod
    def from_settings(cls, settings: Settings, rule: ReceivedRule) -> ReplaySettings:
        notices, temporary = settings.notices, settings.temporary
        return cls(
            rule=rule,
            zone=settings.tz,
            mode=settings.received.mode,
            quiet_start=notices.quiet_start,
            quiet_end=notices.quiet_end,
            quiet_weekends=notices.quiet_weekends,
            duplicate_window=timedelta(days=notices.duplicate_window_days),
            close_after_days=temporary.close_after_days,
            max_extend_days=temporary.max_extend_days,
            idle_days=temporary.idle_days,
            seconds_per_message=settings.digest.seconds_per_message,
        )


@dataclass(frozen=True)
class SeenNotice:
    """The group's latest notice, as the received rule reads it (policies.received.LatestNotice)."""

    message_id: int
    text: str
    urgent: bool
    tracked: bool
    posted_at: datetime


@dataclass(eq=False)
class ChatState:
    """One group as replay goes through it: what the bot would keep about it, and no more."""

    index: ChatIndex
    ref: ChatRef
    mode: Mode
    quiet: QuietHours | None
    # The group's own formalism switches (from the registry).
    formalism: dict[str, Switch]
    department: int | None
    member_count: int | None
    # Replied-to messages still to be answered, and what the rule needs to know about them.
    replies_due: Counter[int]
    targets: dict[int, Target] = field(default_factory=dict)
    topics: set[int] = field(default_factory=set)
    latest_notice: SeenNotice | None = None
    temporary: TemporaryGroup = field(default_factory=TemporaryGroup)
    people: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    invited: set[str] = field(default_factory=set)
    last_activity: datetime | None = None
    closed: bool = False

    @property
    def readers(self) -> int:
        """Who else reads a message here: the registry's member count (less the bot), else everyone
        the history shows (senders, joiners, invited), so the estimate stays low."""
        if self.member_count is not None:
            return max(self.member_count - 1, 0)
        return len(self.people) + len(self.invited - self.names)


@dataclass(frozen=True)
class HeldNotice:
    """A /notice waiting for the end of quiet hours (its sender is taken to have confirmed)."""

    command: Message
    text: str
    facts: NoticeFacts


@dataclass(frozen=True)
class TemporaryClose:
    """A temporary group's close: done (within the replayed period) or still to come after it."""

    chat: ChatIndex
    close_at: datetime
    closed: bool


# Where each scope sits in a count's key (kind, chat order, department, week, sender id).
SCOPES = {"chat": 1, "department": 2, "week": 3, "sender": 4}


class Tally:
    """Every count, kept once per (kind, chat order, department, week, sender id) and summed per
    scope (total, chat, department, sender, week) for the report: one update per count."""

    def __init__(self) -> None:
        self.events: Counter[tuple[str, int, Hashable, int, int | None]] = Counter()
        self.sender_names: dict[int, str] = {}

    def add(self, kind: str, chat: ChatState, department: Hashable, week: int, sender: Person | None = None) -> None:
        counted = sender is not None and kind in SENDER_KINDS
        self.events[(kind, chat.index.order, department, week, sender.id if counted else None)] += 1
        if counted:
            self.sender_names[sender.id] = sender.display_name

    def total(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for (kind, *_where), count in self.events.items():
            found[kind] += count
        return found

    def by(self, scope: str) -> dict[Any, Counter[str]]:
        """Counts per chat order, department, week or sender id (a count without a sender is no one's)."""
        position = SCOPES[scope]
        found: defaultdict[Any, Counter[str]] = defaultdict(Counter)
        for key, count in self.events.items():
            if scope != "sender" or key[position] is not None:
                found[key[position]][key[0]] += count
        return found

    def removed(self) -> Counter[tuple[int, int]]:
        """Removed acks per (chat order, week): the saved time depends on the group's size."""
        found: Counter[tuple[int, int]] = Counter()
        for (kind, order, _department, week, _sender), count in self.events.items():
            if kind == "acks_removed":
                found[(order, week)] += count
        return found


class Replay:
    """Feed it the export's messages in time order; it counts what the bot would have done."""

    def __init__(self, settings: ReplaySettings, registry: Registry, chats: list[ChatIndex]) -> None:
        self.settings, self.registry = settings, registry
        self.rule = settings.rule
        self.chats = {chat.order: self._state(chat) for chat in chats if chat.is_group}
        self.tally = Tally()
        self.copies = CopyFinder(settings.duplicate_window)
        self.reader = MessageReader()
        self.first: datetime | None = None
        self.last: datetime | None = None
        self._timers: list[tuple[datetime, int, Callable[..., None], tuple[Any, ...]]] = []
        self._sequence = itertools.count()
        self.closes: list[TemporaryClose] = []
        self._verdicts: dict[tuple[Any, ...], Verdicts | object] = {}
        self._weeks: dict[int, int] = {}

    def _state(self, chat: ChatIndex) -> ChatState:
        known = self.registry.groups.get(chat.bot_chat_id)
        group_settings = read_stored(known.settings if known else None).settings
        settings = self.settings
        return ChatState(
            index=chat,
            ref=ChatRef(
                chat.bot_chat_id, ChatType.SUPERGROUP if chat.type in SUPERGROUP_TYPES else ChatType.GROUP, chat.name
            ),
            mode=group_mode(group_settings, settings.group_defaults),
            formalism=dict(group_settings.formalism),
            quiet=quiet_hours(group_settings, settings.group_defaults),
            department=known.department_id if known else None,
            member_count=known.member_count if known else None,
            replies_due=Counter(chat.replied),
        )

    # Feeding ---------------------------------------------------------------------------------

    def feed(self, timestamp: int, order: int, raw: dict) -> None:
        """One exported message (or service message) of a group, in time order."""
        moment = moment_of(timestamp)
        if self._timers and self._timers[0][0] <= moment:
            self._run_timers(until=moment)
        self.first = self.first or moment
        if self.last is None or moment > self.last:
            self.last = moment
        chat = self.chats[order]
        if raw["id"] in chat.replies_due:
            self._remember(chat, raw)
        target = replied_to(raw)
        self._process(chat, raw, moment, target)
        if target is not None:
            self._answered(chat, target)

    def _process(self, chat: ChatState, raw: dict, moment: datetime, target: int | None) -> None:
        if chat.closed:
            # Closed and left by the bot: the group is read-only, these would not have been sent.
            self.tally.add("after_close", chat, None, self._week(moment))
        elif raw["type"] == "service":
            self._service(chat, raw, moment)
        else:
            # A post in a forum topic does not reply to the topic's opening message (bot.convert).
            reply_to = None if target is None or target in chat.topics else target
            message = self.reader.message(raw, chat.ref, moment, reply_to=reply_to)
            self._observe(chat, message)
            if message.sender is not None:
                self._judge(chat, message)

    def finish(self) -> None:
        """Let the due work of the replayed period happen (closes, held notices), note what is left."""
        if self.last is not None:
            self._run_timers(until=self.last)
        for chat in self.chats.values():
            temporary = chat.temporary
            if may(GroupEvent.CLOSE, temporary.state) and temporary.close_at is not None:
                self.closes.append(TemporaryClose(chat.index, temporary.close_at, closed=False))

    # Replies -----------------------------------------------------------------------------------

    def _remember(self, chat: ChatState, raw: dict) -> None:
        """Keep what the rule needs of a message that later messages answer (not its text)."""
        chat.targets[raw["id"]] = self.rule.target_of(raw["id"], text_of(raw))

    def _answered(self, chat: ChatState, target: int) -> None:
        """Forget a replied-to message once its last reply has been judged."""
        left = chat.replies_due.get(target)
        if left is None:
            return
        if left > 1:
            chat.replies_due[target] = left - 1
        else:
            del chat.replies_due[target]
            chat.targets.pop(target, None)

    # Service messages ----------------------------------------------------------------------------

    def _service(self, chat: ChatState, raw: dict, moment: datetime) -> None:
        action = raw.get("action")
        if action == "topic_created":
            chat.topics.add(raw["id"])
        elif action in ("invite_members", "create_group"):
            chat.invited.update(name for name in raw.get("members") or () if isinstance(name, str))
        actor = person_id(raw.get("actor_id"))
        if actor is not None:
            chat.people.add(actor)
            chat.names.add(raw.get("actor") or "")
        chat.last_activity = moment

    def _observe(self, chat: ChatState, message: Message) -> None:
        sender = message.sender
        if sender is not None and sender.id not in chat.people:
            chat.people.add(sender.id)
            chat.names.add(sender.display_name)
        chat.last_activity = message.date

    # The rules -----------------------------------------------------------------------------------

    def _judge(self, chat: ChatState, message: Message) -> None:
        """What the live handlers do with a person's group message: commands, notices, the rule."""
        command = command_of(message)
        if command is not None:
            self._command(chat, message, command)
            return
        judgement, facts, acts = self._classify(message)
        if facts is not None:
            self._notice(chat, message.message_id, message.sender, message.text, facts, posted=message.date)
        if acts:
            self._received(chat, message, judgement)

    def _classify(self, message: Message) -> Verdicts:
        """The rule's verdicts on the message, what is kept of it as a notice, and whether the
        rule acts on it: remembered for short texts (see MEMO_LIMIT), per text alone unless the
        ack verdict read the sender's name (then per text and name)."""
        if len(message.text) > MEMO_TEXT_CHARS:
            return self._verdicts_of(message)
        text_key = (message.kind, message.text, message.sticker_emoji)
        found = self._verdicts.get(text_key)
        if found is READ_NAME:
            return self._classify_named(message, text_key)
        if found is None:
            found = self._verdicts_of(message)
            if found[0].ack.by_name:
                self._memo(text_key, READ_NAME)
                self._memo((*text_key, message.sender.display_name), found)
            else:
                self._memo(text_key, found)
        return found

    def _classify_named(self, message: Message, text_key: tuple[Any, ...]) -> Verdicts:
        key = (*text_key, message.sender.display_name)
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdicts_of(message)
            self._memo(key, found)
        return found

    def _memo(self, key: tuple[Any, ...], verdicts: Verdicts | object) -> None:
        if len(self._verdicts) >= MEMO_LIMIT:
            self._verdicts.clear()
        self._verdicts[key] = verdicts

    def _verdicts_of(self, message: Message) -> Verdicts:
        judgement = self.rule.classify(message)
        return judgement, notice_facts(self.rule, judgement, message.text), acts_on(judgement)

    def _received(self, chat: ChatState, message: Message, judgement: Judgement) -> None:
        replied = None
        if message.reply_to_message_id is not None:
            # A reply to a message the export lacks (deleted, or older than the export) answers
            # a message that says nothing, as far as the rule can tell.
            replied = chat.targets.get(message.reply_to_message_id) or self.rule.target_of(
                message.reply_to_message_id, ""
            )
        context = group_context(
            self.rule,
            message,
            mode=chat.mode,
            bot_rights=FULL_RIGHTS,
            now=message.date,
            replied=replied,
            latest_notice=chat.latest_notice,
            sender_has_private_chat=message.sender.id in self.registry.private_chats,
            formalism=chat.formalism,
        )
        self._count_actions(chat, message, self.rule.judge(message, context, judgement))

    def _count_actions(self, chat: ChatState, message: Message, judged: Judgement) -> None:
        """Count what the bot would do, as if Telegram carried out every action it asks for."""
        week = self._week(message.date)
        group_department, sender_department = self._reported(chat, None), self._reported(chat, message.sender)
        actions = performed(judged.actions)
        removed = any(isinstance(action, Delete) for action in actions)
        for action in actions:
            if isinstance(action, Delete):
                self.tally.add("acks_removed", chat, group_department, week)
                self.tally.add(f"acks_removed:{judged.ack.rule}", chat, group_department, week)
            elif isinstance(action, RecordRead) and not removed:
                self.tally.add("acks_recorded", chat, group_department, week)
            elif isinstance(action, RecordEvent) and action.kind == "ack_demand":
                self.tally.add("ack_demands", chat, sender_department, week, message.sender)
            elif isinstance(action, Say | SayWhenReachable):
                # A reminder to the sender: sent now, or kept until they start the bot.
                self.tally.add("reminders", chat, sender_department, week)
        for kind in formalism_kinds(actions):
            self.tally.add(kind, chat, sender_department, week, message.sender)

    def _notice(
        self,
        chat: ChatState,
        message_id: int,
        sender: Person | None,
        text: str,
        facts: NoticeFacts,
        *,
        posted: datetime,
        written: datetime | None = None,
        tracked: bool = False,
    ) -> None:
        """A notice kept, then what the bot does after posting one: link copies, count it after
        hours, read its deadline."""
        zone, week = self.settings.zone, self._week(posted)
        charged = self._charged(chat, sender)
        reported = self._reported(chat, sender)
        count = lambda kind: self.tally.add(kind, chat, reported, week, sender)  # noqa: E731
        count("data_requests" if facts.kind is NoticeKind.DATA_REQUEST else "notices")
        if find_deadline(text, (written or posted).astimezone(zone)) is not None:
            count("deadlines")
        original = self.copies.add((chat.index.order, message_id), chat.ref.id, posted, facts.kind.value, text, charged)
        if original is not None:
            count("duplicate_notices")
            if facts.kind is NoticeKind.DATA_REQUEST and original.department != charged:
                count("duplicate_data_requests")
        if after_hours(chat.quiet, posted.astimezone(zone), urgent=facts.urgent):
            count("after_hours_notices")
        chat.latest_notice = SeenNotice(message_id, text, facts.urgent, tracked, posted)

    # Commands ------------------------------------------------------------------------------------

    def _command(self, chat: ChatState, message: Message, command: Command) -> None:
        if _URGENT_COMMAND.match(message.text):
            # "/urgent TEXT" is a command to Telegram but an urgent notice to Jianfu.
            judgement = self.rule.classify(message)
            facts = notice_facts(self.rule, judgement, message.text)
            if facts is not None:
                self._notice(chat, message.message_id, message.sender, message.text, facts, posted=message.date)
            return
        if command.addressed:
            return  # addressed to a bot by name: not Jianfu in a history without it
        handler = {
            "temp": self._temp,
            "done": self._done,
            "reopen": self._reopen,
            "extend": self._extend,
            "notice": self._notice_command,
        }.get(command.name)
        if handler is not None:
            handler(chat, message, command.args)

    def _temp(self, chat: ChatState, message: Message, args: str) -> None:
        parsed = parse_temp(args, message.date.astimezone(self.settings.zone).date())
        if isinstance(parsed, ParseError):
            return  # the bot would have answered with the parse error and changed nothing
        chat.temporary.mark(parsed)
        if parsed.until is not None:
            self._at(until_due(parsed.until, self.settings.zone), self._until_reached, chat, parsed.until)

    def _done(self, chat: ChatState, message: Message, _args: str) -> None:
        if chat.temporary.done(message.date, self.settings.close_after_days):
            self._at(chat.temporary.close_at, self._close, chat, chat.temporary.close_at)

    def _reopen(self, chat: ChatState, _message: Message, _args: str) -> None:
        chat.temporary.reopen()

    def _extend(self, chat: ChatState, _message: Message, args: str) -> None:
        parsed = parse_extend(args, self.settings.max_extend_days)
        if not isinstance(parsed, ParseError) and chat.temporary.extend(parsed.days):
            self._at(chat.temporary.close_at, self._close, chat, chat.temporary.close_at)

    def _notice_command(self, chat: ChatState, message: Message, text: str) -> None:
        """/notice TEXT: a tracked notice now, or (in quiet hours) at the next working period,
        as if its sender confirmed; a held notice is never counted after hours."""
        if not text or len(text) > MAX_NOTICE_CHARS:
            return
        urgent = self.rule.urgency.judge(text).hit
        publish_at = hold_until(chat.quiet, message.date.astimezone(self.settings.zone), urgent=urgent)
        facts = command_notice_facts(self.rule, text, published_urgent=False)
        held = HeldNotice(message, text, facts)
        if publish_at is None:
            self._publish(chat, held, message.date)
        else:
            self._at(publish_at, self._publish, chat, held)

    def _publish(self, chat: ChatState, held: HeldNotice, due: datetime) -> None:
        """The bot reposts the notice as its own message: a new id, which no exported message
        answers (its negative stands for it); deadlines are read from when it was written."""
        if not chat.closed:
            message = held.command
            self._notice(
                chat, -message.message_id, message.sender, held.text, held.facts,
                posted=due, written=message.date, tracked=True,
            )  # fmt: skip

    # Due work ------------------------------------------------------------------------------------

    def _at(self, due: datetime, action: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._timers, (due, next(self._sequence), action, args))

    def _run_timers(self, until: datetime) -> None:
        while self._timers and self._timers[0][0] <= until:
            due, _sequence, action, args = heapq.heappop(self._timers)
            action(*args, due)

    def _until_reached(self, chat: ChatState, until: Any, due: datetime) -> None:
        """The /temp until date came: the work is done by itself (unless the date changed since)."""
        if chat.temporary.until == until and chat.temporary.done(due, self.settings.close_after_days):
            self._at(chat.temporary.close_at, self._close, chat, chat.temporary.close_at)

    def _close(self, chat: ChatState, close_at: datetime, due: datetime) -> None:
        if chat.temporary.close(close_at):
            chat.closed = True
            self.closes.append(TemporaryClose(chat.index, close_at, closed=True))
            self.tally.add("temp_closed", chat, self._reported(chat, None), self._week(due))

    # Whom a figure counts for ------------------------------------------------------------------------

    def _charged(self, chat: ChatState, sender: Person | None) -> int | None:
        """The department the live bot charges (Executor.department_for): None without a registry."""
        contact_of = self.registry.contacts.get(sender.id, frozenset()) if sender is not None else frozenset()
        return charged_department(contact_of, chat.department)

    def _reported(self, chat: ChatState, sender: Person | None) -> Hashable:
        """Where the report lists a figure: by department with a registry, else by group."""
        if self.registry.loaded:
            return self._charged(chat, sender)
        return chat.index.order

    def _week(self, moment: datetime) -> int:
        """The ISO week of the moment's local day, as year * 100 + week; worked out once per
        quarter hour (every zone's offset is a whole number of quarter hours)."""
        slot = int(moment.timestamp()) // 900
        week = self._weeks.get(slot)
        if week is None:
            year, number, _weekday = moment.astimezone(self.settings.zone).isocalendar()
            week = self._weeks[slot] = year * 100 + number
        return week


def performed(actions: Iterable[Action]) -> list[Action]:
    """The actions and, as if Telegram carried each out, the ones that follow it (`then.done`).
    A list, not a generator: a generator per action and follow-up was dear on this path."""
    found: list[Action] = []
    for action in actions:
        found.append(action)
        # Facts without follow-ups have no `then`; Then's own truth test is dear on this path.
        follow_ups = getattr(getattr(action, "then", None), "done", ())
        if follow_ups:
            found += performed(follow_ups)
    return found


def formalism_kinds(actions: list[Action]) -> set[str]:
    """The formalism demands counted, by kind, from the events the actions record (as the bot
    counts them: a rule a group switched off records nothing)."""
    return {
        kind
        for action in actions
        if isinstance(action, RecordEvent) and (kind := action.kind.removeprefix(FORMALISM_EVENT)) in FORMALISM_KINDS
    }
