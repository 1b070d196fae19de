"""The "received" rule: remove ack-only replies as reads, and remind senders who demand acks.

The regulation: except for urgent matters, work groups must not require members to feed
back "received". Members still post 收到 because senders ask for it. This rule removes
both sides of the habit and keeps what the sender wanted: who has seen the notice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from policies.acks import DIGITS_ONLY, AckRule, AckVerdict, Strength
from policies.actions import (
    About,
    Action,
    Button,
    Delete,
    KeyList,
    Logged,
    Outcome,
    RecordEvent,
    RecordRead,
    RefreshCounter,
    Say,
    SayWhenReachable,
    TellAdminsOnce,
    Then,
    TipOnce,
)
from policies.callbacks import ConvertDemand, encode
from policies.demands import DEFAULT_URGENT_MARKERS, DemandRule, UrgencyRule
from policies.formalism import ALL_KINDS, FormalismRules, Switch
from policies.notices import NoticeKind, NoticeRule, NoticeVerdict
from policies.text import has_question_mark
from policies.types import ContentKind, Message
from policies.verdict import Verdict

RULE = "received"
FORMALISM = "formalism"
NO_EMERGENCY = Verdict("emergency", False, "no formalism demand to exempt")
# Telegram refuses to delete messages older than this.
DELETE_LIMIT = timedelta(hours=48)
TIP_PERIOD = timedelta(days=7)
# Texts of answered messages whose traits ReceivedRule keeps (a bound on memory, not a tuning knob).
REMEMBERED_TARGETS = 4096
# Texts whose demand, urgency and notice verdicts ReceivedRule keeps (see _text_verdicts).
RECENT_TEXTS = 64
FORMALISM_KIND_NAMES = tuple(kind.value for kind in ALL_KINDS)
_QUESTION_ENDINGS = ("吗", "嗎", "么", "麼", "呢", "没有", "了没", "否")
# Words that make a notice ask for an answer even without a question mark: a "1" or "是" under
# "请报告辖区内是否有独居老人" or "需要几份" is an answer, not an ack.
_QUESTION_WORDS = (
    "是否",
    "几",
    "幾",
    "多少",
    "有没有",
    "有沒有",
    "能否",
    "可否",
    "哪",
    "谁",
    "誰",
    "什么",
    "什麼",
    "how many",
    "whether",
    "which",
    "who",
)


class Mode(StrEnum):
    OFF = "off"
    RECORD = "record"
    REMOVE = "remove"


@dataclass(frozen=True)
class ReceivedConfig:
    mode: Mode = Mode.REMOVE
    # An ack that replies to nothing counts when it comes this soon after a notice.
    notice_window: timedelta = timedelta(minutes=30)
    # A reminder for a sender the bot cannot write to yet waits this long for their /start.
    kept_reminder: timedelta = timedelta(days=7)
    extra_ack_words: tuple[str, ...] = ()
    urgent_markers: tuple[str, ...] = DEFAULT_URGENT_MARKERS
    notice_tags: tuple[str, ...] = ("#通知", "#公告", "#notice", "#announcement")
    # Each formalism rule's switch where a group has not chosen its own (kind -> switch).
    formalism: Mapping[str, Switch] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """The message an ack answers: the replied-to one, or the latest notice in the window."""

    message_id: int
    is_question: bool = False
    is_urgent: bool = False
    # A notice or an ack demand: something an ack plainly answers.
    expects_ack: bool = False
    # A data request: a reply of "1" or "11" may be the number it asks for.
    asks_for_data: bool = False
    # Posted by the bot with a Read counter.
    tracked: bool = False


def formalism_switch_of(kind: str, group: Mapping[str, Switch], deployment: Mapping[str, Switch]) -> Switch:
    """A formalism rule's switch in a group: the group's own choice, else the deployment's, else on."""
    return group.get(kind) or deployment.get(kind) or Switch.ON


@dataclass(frozen=True)
class GroupContext:
    """What the rule needs to know beyond the message itself."""

    mode: Mode
    can_delete: bool
    now: datetime
    replied: Target | None = None
    recent_notice: Target | None = None
    sender_has_private_chat: bool = False
    # The group's own formalism switches (kind -> switch), from /set.
    formalism: Mapping[str, Switch] = field(default_factory=dict)


@dataclass(frozen=True)
class Judgement:
    """Every verdict the rules gave (for `jianfu explain` and the log) and the actions to take."""

    ack: AckVerdict
    demand: Verdict
    urgent: Verdict
    notice: NoticeVerdict
    # The formalism rules that fired (checkin, photo_proof, promotion, instant_reply).
    formalism: tuple[Verdict, ...] = ()
    emergency: Verdict = NO_EMERGENCY
    actions: tuple[Action, ...] = field(default=())

    def with_actions(self, actions: tuple[Action, ...]) -> Judgement:
        """The same verdicts with these actions: dataclasses.replace, spelled out because the
        received rule asks it for every message it acts on and replace is several times slower
        (a test checks that every field is carried over)."""
        return Judgement(self.ack, self.demand, self.urgent, self.notice, self.formalism, self.emergency, actions)

    @property
    def fired(self) -> list[tuple[str, str]]:
        verdicts = (self.ack, self.demand, self.urgent, self.notice, *self.formalism, self.emergency)
        return [(verdict.rule, verdict.detail) for verdict in verdicts if verdict.hit]

    @property
    def formalism_kinds(self) -> tuple[str, ...]:
        return tuple(verdict.rule for verdict in self.formalism)

    @property
    def formalism_exempt(self) -> Verdict:
        """Formalism demands are not reminded when the message is urgent or about an emergency."""
        if self.urgent.hit:
            return Verdict("exempt", True, "urgent")
        if self.emergency.hit:
            return Verdict("exempt", True, self.emergency.detail)
        return Verdict("exempt", False, "neither urgent nor about an emergency")


class ReceivedRule:
    """The whole rule, built once from its configuration."""

    def __init__(self, config: ReceivedConfig = ReceivedConfig()) -> None:
        self.config = config
        self.acks = AckRule(config.extra_ack_words)
        self.demands = DemandRule()
        self.urgency = UrgencyRule(config.urgent_markers)
        self.notices = NoticeRule(config.notice_tags)
        self.formalism = FormalismRules()
        self._remembered: dict[str, tuple[bool, bool, bool, bool]] = {}
        self._recent_texts: dict[str, tuple[Verdict, Verdict, NoticeVerdict]] = {}

    def classify(self, message: Message) -> Judgement:
        """The verdicts alone, without a group: what `jianfu explain` prints."""
        if message.kind is ContentKind.STICKER:
            ack = self.acks.judge_sticker(message.sticker_emoji)
        elif message.kind is ContentKind.TEXT:
            sender = message.sender.display_name if message.sender else ""
            ack = self.acks.judge(message.text, sender_name=sender)
        else:
            # A photo or a file captioned "收到" carries the file: never removed as an ack.
            ack = AckVerdict("ack_only", False, f"a {message.kind.value} is kept whatever its caption")
        formalism = self.formalism.judge(message.text)
        demand, urgent, notice = self._text_verdicts(message.text)
        return Judgement(
            ack=ack,
            demand=demand,
            urgent=urgent,
            notice=notice,
            formalism=formalism,
            emergency=self.formalism.emergency.judge(message.text) if formalism else NO_EMERGENCY,
        )

    def target_of(self, message_id: int, text: str, *, is_notice: bool = False, tracked: bool = False) -> Target:
        """Describe a message an ack might answer, from its text."""
        is_question, is_urgent, expects_ack, data = self._traits(text)
        return Target(
            message_id=message_id,
            is_question=is_question,
            is_urgent=is_urgent,
            expects_ack=is_notice or tracked or expects_ack,
            asks_for_data=data,
            tracked=tracked,
        )

    def _traits(self, text: str) -> tuple[bool, bool, bool, bool]:
        """Question, urgent, expects an ack, asks for data: remembered per text, since every
        member's ack to a notice asks about the same (often long) notice."""
        traits = self._remembered.get(text)
        if traits is None:
            demand, urgent, notice = self._text_verdicts(text)
            traits = (looks_like_question(text), urgent.hit, notice.hit or demand.hit, asks_for_data(text))
            if len(self._remembered) >= REMEMBERED_TARGETS:
                self._remembered.clear()
            self._remembered[text] = traits
        return traits

    def _text_verdicts(self, text: str) -> tuple[Verdict, Verdict, NoticeVerdict]:
        """The demand, urgency and notice verdicts, which read the text alone: kept for the last
        few texts, since a message that is answered is described as a target (target_of) and
        classified one after the other (in replay, and when the bot sees a reply to it)."""
        found = self._recent_texts.get(text)
        if found is None:
            found = (self.demands.judge(text), self.urgency.judge(text), self.notices.judge(text))
            if len(self._recent_texts) >= RECENT_TEXTS:
                self._recent_texts.clear()
            self._recent_texts[text] = found
        return found

    def judge(self, message: Message, group: GroupContext, classified: Judgement | None = None) -> Judgement:
        """The verdicts and the actions for a group message (`classified`: verdicts known already)."""
        judgement = classified or self.classify(message)
        if message.sender is None:
            return judgement
        actions: list[Action] = []
        if group.mode is not Mode.OFF and judgement.ack.hit:
            actions = self._on_ack(message, judgement.ack, group)
        elif group.mode is not Mode.OFF and judgement.demand.hit and not judgement.urgent.hit:
            actions = self._on_demand(message, group)
        if judgement.formalism and not judgement.formalism_exempt.hit:
            actions += self._on_formalism(message, judgement, group)
        return judgement.with_actions(tuple(actions))

    def _on_ack(self, message: Message, ack: AckVerdict, group: GroupContext) -> list[Action]:
        target = self._answered(message, ack, group)
        if target is None:
            return []
        chat_id, sender = message.chat.id, message.sender.id
        # A read of the bot's own tracked notice moves its "已读 n/m" counter.
        refresh = (RefreshCounter(chat_id, target.message_id),) if target.tracked else ()
        read = RecordRead(chat_id, target.message_id, sender, "ack", RULE, ack.detail, then=Then(done=refresh))
        if group.mode is not Mode.REMOVE or target.is_urgent:
            # Acks to urgent matters are legitimate and stay; record-only groups keep everything.
            return [read]
        missing_right = TellAdminsOnce(chat_id, "received.admins_missing_delete", rule=RULE, reason="no delete right")
        too_old = TellAdminsOnce(chat_id, "received.admins_too_old", rule=RULE, reason="older than 48 hours")
        # The trail keeps whose ack it was and its words (only ack words: that made it an ack).
        about = About(person_id=sender, text=ack_words(message))
        if not group.can_delete:
            return [read, missing_right, self._kept(message, about, "no delete right", Outcome.NO_RIGHTS)]
        if group.now - message.date >= DELETE_LIMIT:
            return [read, too_old, self._kept(message, about, "older than 48 hours", Outcome.TOO_OLD)]
        removed = RecordEvent(
            "ack_removed", chat_id, f"ack_removed:{chat_id}:{message.message_id}", rule=RULE, reason="ack removed"
        )
        # The tip says what the member can do for this notice: a tracked one has a Read button.
        tip = TipOnce(
            sender, "received.tip_tracked" if target.tracked else "received.tip_plain", TIP_PERIOD, RULE, "ack removed"
        )
        # The read is recorded whatever Telegram says; the count and the tip follow a removal only.
        delete = Delete(
            chat_id,
            message.message_id,
            rule=RULE,
            reason=ack.detail,
            then=Then(
                done=(removed, tip),
                no_rights=(missing_right,),
                too_old=(too_old,),
            ),
            about=about,
        )
        return [read, delete]

    @staticmethod
    def _kept(message: Message, about: About, reason: str, outcome: Outcome) -> Logged:
        """An ack the rule would remove but cannot: kept, and said so in the group's trail."""
        return Logged(message.chat.id, RULE, "kept", reason, outcome.value, about.person_id, about.text)

    def _answered(self, message: Message, ack: AckVerdict, group: GroupContext) -> Target | None:
        """The message the ack answers, when it plainly answers one; otherwise None (keep it)."""
        if message.reply_to_message_id is not None:
            target = group.replied or Target(message.reply_to_message_id)
        elif group.recent_notice is not None and ack.strength is Strength.STRONG:
            # Without a reply only a plain "收到" is tied to the latest notice: a "好的" or "1"
            # in the window may belong to another conversation.
            target = group.recent_notice
        else:
            return None
        if target.is_question:
            # Under a question even "收到" or "了解" may be the answer the asker waits for.
            return None
        if ack.strength is Strength.WEAK and not target.expects_ack:
            # "好的" under an ordinary message may be a real answer.
            return None
        if ack.rule == "ack_only" and ack.detail == DIGITS_ONLY and target.asks_for_data:
            # "11" under "请报送新增户数" is the number asked for.
            return None
        return target

    def _on_demand(self, message: Message, group: GroupContext) -> list[Action]:
        chat_id, sender = message.chat.id, message.sender.id
        key = f"ack_demand:{chat_id}:{message.message_id}"
        if group.mode is not Mode.REMOVE:
            # Record-only groups get no reminders.
            return [RecordEvent("ack_demand", chat_id, key, sender, RULE, "ack demanded")]
        button = Button("received.button_convert", encode(ConvertDemand(chat_id, message.message_id)))
        params = {"title": message.chat.title}
        reminder = Say(
            sender,
            "received.demand_private",
            params,
            buttons=(button,),
            rule=RULE,
            reason="ack demanded",
            about=About(chat_id),
        )
        # The reminder follows only a newly recorded demand: an edit of a demand, or the same
        # update delivered again, is not reminded twice.
        remind = Then(done=tuple(self._remind(reminder, message, group, "ack_demand")))
        return [RecordEvent("ack_demand", chat_id, key, sender, RULE, "ack demanded", then=remind)]

    def _on_formalism(self, message: Message, judgement: Judgement, group: GroupContext) -> list[Action]:
        """Count each formalism demand the group watches; remind the sender once per message."""
        chat_id, sender = message.chat.id, message.sender.id
        switches = {kind: self.formalism_switch(kind, group) for kind in judgement.formalism_kinds}
        counted = [kind for kind, switch in switches.items() if switch is not Switch.OFF]
        actions: list[Action] = [
            RecordEvent(f"formalism_{kind}", chat_id, f"formalism_{kind}:{chat_id}:{message.message_id}", sender, kind)
            for kind in counted
        ]
        reminded = tuple(kind for kind in counted if switches[kind] is Switch.ON)
        if not reminded:
            return actions
        # One reminder per message, however often it is edited or whichever kinds an edit adds.
        key = f"formalism_reminded:{chat_id}:{message.message_id}"
        params = {"title": message.chat.title, "kinds": KeyList("formalism.kind.", reminded)}
        reminder = Say(
            sender, "formalism.reminder", params, rule=FORMALISM, reason=", ".join(reminded), about=About(chat_id)
        )
        remind = Then(done=tuple(self._remind(reminder, message, group, FORMALISM)))
        actions.append(RecordEvent("formalism_reminded", chat_id, key, sender, FORMALISM, "reminder due", then=remind))
        return actions

    def formalism_switch(self, kind: str, group: GroupContext) -> Switch:
        return formalism_switch_of(kind, group.formalism, self.config.formalism)

    def _remind(self, reminder: Say, message: Message, group: GroupContext, subject: str) -> list[Action]:
        """Privately now; or, for a sender who never opened a chat with the bot, kept for their
        /start, with the group's admins told privately once a week. Never in the group: a
        department's staff are not corrected in front of the members."""
        if group.sender_has_private_chat:
            return [reminder]
        week = "{}-W{:02d}".format(*group.now.isocalendar()[:2])
        sender, chat_id = message.sender, message.chat.id
        key = f"{subject}:{chat_id}:{sender.id}:{week}"
        kept = SayWhenReachable(reminder, self.config.kept_reminder, key, reminder.rule, "sender not reachable yet")
        admins = TellAdminsOnce(
            chat_id,
            "received.admins_unreachable_sender",
            {"sender": sender.display_name},
            rule=reminder.rule,
            reason="sender not reachable yet",
            period=f"{sender.id}:{week}",
        )
        return [kept, admins]


def ack_words(message: Message) -> str:
    """What the trail keeps of a removed ack: its text, or a sticker's emoji."""
    return message.text or message.sticker_emoji or ""


def asks_for_data(text: str) -> bool:
    return NoticeKind.DATA_REQUEST is NoticeRule.kind_of(text) or any(
        word in text for word in ("数", "数量", "人数", "户数")
    )


def looks_like_question(text: str) -> bool:
    """A question mark, a question particle at the end, or a question word anywhere."""
    stripped = text.rstrip(" 。.!！~～")
    lowered = text.lower()
    return (
        has_question_mark(text)
        or stripped.endswith(_QUESTION_ENDINGS)
        or any(word in lowered for word in _QUESTION_WORDS)
    )


def config_from(
    *,
    mode: str,
    notice_window_minutes: int,
    kept_reminder_days: float,
    extra_ack_words: Iterable[str],
    urgent_markers: Iterable[str],
    notice_tags: Iterable[str],
    formalism: Mapping[str, str] | None = None,
) -> ReceivedConfig:
    return ReceivedConfig(
        mode=Mode(mode),
        notice_window=timedelta(minutes=notice_window_minutes),
        kept_reminder=timedelta(days=kept_reminder_days),
        extra_ack_words=tuple(extra_ack_words),
        urgent_markers=tuple(urgent_markers),
        notice_tags=tuple(notice_tags),
        formalism={kind: Switch(switch) for kind, switch in (formalism or {}).items()},
    )


# What the rule reads beyond the message ------------------------------------------------------
# Decided here, once, for the live handler (bot/handlers/received.py) and for `jianfu replay`,
# so the two cannot drift: each gathers the facts its own way (Telegram and the database, or
# the export) and both build the rule's input with these functions.


class LatestNotice(Protocol):
    """The newest notice of a group, as far as the rule cares (storage's RecentNotice is one)."""

    message_id: int
    text: str
    urgent: bool
    tracked: bool
    posted_at: datetime


@dataclass(frozen=True)
class NoticeFacts:
    """How a group message is kept as a notice."""

    kind: NoticeKind
    urgent: bool
    # Counted as an ack demand (an urgent message may ask for replies).
    ack_demand: bool


def mode_of(group_settings: Mapping[str, Any] | None, default: str) -> Mode:
    """The group's own `/set received` choice, else the deployment's mode."""
    return Mode((group_settings or {}).get(RULE) or default)


def can_delete(bot_rights: Mapping[str, Any] | None) -> bool:
    """Whether the bot may remove members' messages: an admin with the delete right (as stored
    from BotRights.as_dict)."""
    rights = bot_rights or {}
    return bool(rights.get("is_admin") and rights.get("can_delete_messages"))


def notice_window_start(rule: ReceivedRule, now: datetime) -> datetime:
    """An unreplied ack counts for a notice posted at or after this moment."""
    return now - rule.config.notice_window


def notice_target(rule: ReceivedRule, notice: LatestNotice) -> Target:
    """A notice as the message an unreplied ack answers."""
    is_question, _urgent, _expects_ack, data = rule._traits(notice.text)
    return Target(
        notice.message_id,
        is_question=is_question,
        is_urgent=notice.urgent,
        expects_ack=True,
        asks_for_data=data,
        tracked=notice.tracked,
    )


def group_context(
    rule: ReceivedRule,
    message: Message,
    *,
    mode: Mode,
    bot_rights: Mapping[str, Any] | None,
    now: datetime,
    replied: Target | None,
    latest_notice: LatestNotice | None,
    sender_has_private_chat: bool = False,
    formalism: Mapping[str, Switch] | None = None,
) -> GroupContext:
    """The rule's view of the group: `replied` is the answered message (rule.target_of its
    text), `latest_notice` the group's newest notice; it counts only for a message that answers
    nothing, within the notice window, and never for itself."""
    recent = None
    if (
        replied is None
        and latest_notice is not None
        and latest_notice.message_id != message.message_id
        and latest_notice.posted_at >= notice_window_start(rule, now)
    ):
        recent = notice_target(rule, latest_notice)
    return GroupContext(
        mode=mode,
        can_delete=can_delete(bot_rights),
        now=now,
        replied=replied,
        recent_notice=recent,
        sender_has_private_chat=sender_has_private_chat,
        formalism=dict(formalism or {}),
    )


def notice_facts(rule: ReceivedRule, judgement: Judgement, text: str) -> NoticeFacts | None:
    """Notices and ack demands are kept as notices (the one text Jianfu stores); an ack that
    reads like a demand ("确认收到") is an answer and is not."""
    if judgement.ack.hit or not (judgement.notice.hit or judgement.demand.hit):
        return None
    return NoticeFacts(
        kind=judgement.notice.kind or rule.notices.kind_of(text),
        urgent=judgement.urgent.hit,
        ack_demand=judgement.demand.hit and not judgement.urgent.hit,
    )


def command_notice_facts(rule: ReceivedRule, text: str, *, published_urgent: bool) -> NoticeFacts:
    """`/notice TEXT` is kept as a tracked notice whatever it says; urgent when its text says so
    or its sender chose to publish it now, in quiet hours."""
    urgent = published_urgent or rule.urgency.judge(text).hit
    return NoticeFacts(kind=rule.notices.kind_of(text), urgent=urgent, ack_demand=False)


def acts_on(judgement: Judgement) -> bool:
    """Whether the rule may act on a message: most group messages need no group context at all."""
    return judgement.ack.hit or judgement.demand.hit or bool(judgement.formalism)
