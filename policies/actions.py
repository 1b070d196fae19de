"""Action values: what a rule, a command or a job decides; bot/pipeline.py carries them out.

There are two families. Facts (RecordRead, RecordEvent…) are written to the database in the
transaction that decided them. Telegram actions (Say, Delete, Pin, Leave…) run only after that
transaction committed; each may say what follows its outcome (`then`): a Delete that, when
done, counts the removal and tips the member, and when the right is missing, tells the admins.
A follow-up runs in a short second transaction once the outcome is known. Telegram actions
that must not be lost are durable: written as outbox rows with the facts that cause them and
retried until Telegram clearly took or refused them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

# A follow-up's message id that stands for "the message the action before me sent".
SENT = -1
# A follow-up's file id that stands for "the file the action before me uploaded".
SENT_FILE = "<sent file>"


class Outcome(StrEnum):
    """What a Telegram call meant for Jianfu."""

    DONE = "done"
    NO_RIGHTS = "no_rights"
    TOO_OLD = "too_old"
    NOT_FOUND = "not_found"
    # The person has not started the bot, or blocked it.
    UNREACHABLE = "unreachable"
    # The bot is no longer in the group.
    KICKED = "kicked"
    # Telegram clearly did not act (429, 5xx, connection refused): trying again is safe.
    RETRY_LATER = "retry_later"
    # Telegram may or may not have acted (a timeout): repeat only what is harmless to repeat.
    UNCERTAIN = "uncertain"
    # Not tried: its time had passed (a digest the next one replaced).
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Whether trying again later cannot change the result."""
        return self is not Outcome.RETRY_LATER


@dataclass(frozen=True)
class Then:
    """Follow-ups by outcome. `done` also follows a delete of a message already gone."""

    done: tuple[Action, ...] = ()
    no_rights: tuple[Action, ...] = ()
    too_old: tuple[Action, ...] = ()
    # The person cannot be reached, or the bot left the group.
    gone: tuple[Action, ...] = ()
    # Refused for any other reason: nothing more will be tried.
    failed: tuple[Action, ...] = ()
    # Telegram may or may not have acted (a send that timed out), and it is not repeated.
    uncertain: tuple[Action, ...] = ()
    # Never tried: it was still waiting to be retried when its time ran out.
    expired: tuple[Action, ...] = ()

    def after(self, outcome: Outcome) -> tuple[Action, ...]:
        if outcome is Outcome.DONE:
            return self.done
        if outcome is Outcome.NO_RIGHTS:
            return self.no_rights
        if outcome is Outcome.TOO_OLD:
            return self.too_old
        if outcome in (Outcome.UNREACHABLE, Outcome.KICKED):
            return self.gone
        if outcome is Outcome.RETRY_LATER:
            return ()
        if outcome is Outcome.UNCERTAIN:
            return self.uncertain
        if outcome is Outcome.EXPIRED:
            return self.expired
        return self.failed

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in dataclasses.fields(self))

    def first_when_done(self, *actions: Action) -> Then:
        """These follow-ups, then the ones already given, when the action is done."""
        return dataclasses.replace(self, done=(*actions, *self.done))

    def also_when_refused(self, *actions: Action) -> Then:
        """These follow-ups too, whatever the reason Telegram refused (or may not have acted)."""
        return dataclasses.replace(
            self,
            no_rights=(*self.no_rights, *actions),
            too_old=(*self.too_old, *actions),
            gone=(*self.gone, *actions),
            failed=(*self.failed, *actions),
        )


def refused(*actions: Action) -> Then:
    """Follow-ups for any refusal and none for success."""
    return Then().also_when_refused(*actions)


NOTHING = Then()


@dataclass(frozen=True)
class KeyList:
    """A parameter rendered as one localized line per item: catalog key `prefix` + item."""

    prefix: str
    items: tuple[str, ...]
    # On one line after the header, joined by the catalog's `{prefix}_separator`.
    inline: bool = False


@dataclass(frozen=True)
class Button:
    """An inline button: catalog key of its label (or the label itself), and its callback data."""

    key: str
    data: str = ""
    # `key` is the label as shown, not a catalog key (names, department titles, dates).
    literal: bool = False
    # A link button instead of a callback.
    url: str = ""


# Buttons as rows: each item of a Say's `buttons` is a row, a single Button a row of one.
Row = Button | tuple[Button, ...]
# A rendered keyboard: rows of (label, callback data, url).
Keyboard = tuple[tuple[tuple[str, str, str], ...], ...]


@dataclass(frozen=True)
class About:
    """What a group's audit trail keeps of an action beyond its rule and reason: the group a
    private message concerns, whose message it was (or whom it went to), an ack's words."""

    chat_id: int = 0
    person_id: int | None = None
    text: str = ""
    # False: the trail keeps that a private message went, not to whom (a deadline reminder goes
    # to those who have not read a notice, which only its sender and the admins may learn).
    name_recipient: bool = True


# Telegram actions ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Carried:
    """What every Telegram action carries besides its own fields (keyword-only, after them): the
    rule and reason that decided it (the audit trail's words), what follows its outcome, and
    whether it is kept in the outbox until done (False for what is worth nothing after a crash,
    a command's reply, and for what must leave no row behind, a whistleblower's conversation)."""

    rule: str = ""
    reason: str = ""
    then: Then = NOTHING
    durable: bool = True


@dataclass(frozen=True)
class Say(Carried):
    """Send catalog text `key` to a chat; `expires` messages in groups delete themselves later."""

    chat_id: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    expires: bool = False
    # Overrides the configured expiry for this message (e.g. 2 minutes for a demand reminder).
    expire_after: timedelta | None = None
    reply_to: int | None = None
    buttons: tuple[Row, ...] = ()
    about: About | None = None


@dataclass(frozen=True)
class Send(Carried):
    """A message already rendered as Telegram HTML (what a Say becomes before it is stored)."""

    chat_id: int
    html: str
    keyboard: Keyboard = ()
    reply_to: int | None = None
    expire_after: timedelta | None = None
    about: About | None = None
    # Not sent after this moment (its retries give up): e.g. a digest the next week's replaces.
    valid_until: datetime | None = None
    # Leaves no trace of the person: not even that they blocked the bot (a whistleblower).
    anonymous: bool = False
    # Tries at once when Telegram asks to retry (for a message that is kept nowhere else).
    attempts: int = 1


@dataclass(frozen=True)
class SendFile(Carried):
    """A photo or document: a Telegram file id, or PNG bytes as base64 (the digest's chart)."""

    chat_id: int
    kind: str  # photo | document
    file: str
    caption: str = ""
    uploaded: bool = False
    valid_until: datetime | None = None


@dataclass(frozen=True)
class Edit(Carried):
    """Replace a message's text (and buttons); `html` None changes only its buttons."""

    chat_id: int
    message_id: int
    html: str | None = None
    keyboard: Keyboard = ()


@dataclass(frozen=True)
class EditSay(Carried):
    """Edit a message to catalog text `key` (rendered in the chat's language before it is stored)."""

    chat_id: int
    message_id: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    buttons: tuple[Row, ...] = ()


@dataclass(frozen=True)
class Delete(Carried):
    chat_id: int
    message_id: int
    about: About | None = None


@dataclass(frozen=True)
class Pin(Carried):
    chat_id: int
    message_id: int


@dataclass(frozen=True)
class Unpin(Carried):
    chat_id: int
    message_id: int


@dataclass(frozen=True)
class SetPermissions(Carried):
    """Members may send nothing (`read_only`) or what groups allow by default."""

    chat_id: int
    read_only: bool = True


@dataclass(frozen=True)
class Rename(Carried):
    chat_id: int
    title: str


@dataclass(frozen=True)
class RevokeLink(Carried):
    """Revoke an invite link the bot created (links made by people only they can revoke)."""

    chat_id: int
    invite_link: str


@dataclass(frozen=True)
class Leave(Carried):
    chat_id: int


@dataclass(frozen=True)
class SetMenu(Carried):
    """One person's command menu: `menu` names an audience's menu; empty takes it back."""

    chat_id: int
    menu: str = ""


@dataclass(frozen=True)
class AnswerCallback:
    """Answer a button press; worthless seconds later, so never stored."""

    query_id: str
    # The person who pressed (a private chat id: never logged).
    person_id: int
    text: str = ""
    alert: bool = False
    rule: str = ""
    reason: str = ""
    then: Then = NOTHING
    durable: ClassVar[bool] = False


@dataclass(frozen=True)
class TipOnce:
    """A private tip to a person, at most once per `period`."""

    person_id: int
    key: str
    period: timedelta
    rule: str = ""
    reason: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TellAdminsOnce:
    """Tell the group's admins privately, once per chat and `key`, or once per `period` (e.g. an
    ISO week, or a person and a week) when one is given."""

    chat_id: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    rule: str = ""
    reason: str = ""
    period: str = ""


@dataclass(frozen=True)
class SayWhenReachable:
    """A private message for someone the bot cannot write to yet (they never opened a chat with
    it): kept, and delivered when they next send /start, if that is within `keep_for`. `key`
    keeps one such message per subject: a second one with the same key is not kept."""

    message: Say
    keep_for: timedelta
    key: str
    rule: str = ""
    reason: str = ""


# Facts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRead:
    """`person_id` has seen message `message_id` of `chat_id` (via button, reaction, ack, inbox)."""

    chat_id: int
    message_id: int
    person_id: int
    via: str
    rule: str = ""
    reason: str = ""
    # Follows a read that is new (done) or was recorded before (failed).
    then: Then = NOTHING


@dataclass(frozen=True)
class RecordEvent:
    """A countable fact for the digest; `key` makes recording it idempotent."""

    kind: str
    chat_id: int
    key: str | None = None
    sender_id: int | None = None
    rule: str = ""
    reason: str = ""
    # Follows a newly recorded fact (done); a key seen before (an edit, a redelivered update)
    # follows `failed`, so its reminder is not sent twice.
    then: Then = NOTHING


@dataclass(frozen=True)
class Logged:
    """An action for the group's audit trail that involves no Telegram call: a rule that chose
    not to act (an ack kept for lack of the right to delete it), a change of the bot's role."""

    chat_id: int
    rule: str
    kind: str
    reason: str
    outcome: str
    person_id: int | None = None
    text: str = ""


@dataclass(frozen=True)
class RefreshCounter:
    """A tracked notice's "已读 n/m" counter moved: redraw it (throttled) if `message_id` is one."""

    chat_id: int
    message_id: int


@dataclass(frozen=True)
class ExpireLater:
    """Delete the bot's own group message after a while (the group stays quiet)."""

    chat_id: int
    message_id: int = SENT
    after: timedelta | None = None


TELEGRAM_ACTIONS = (
    Say,
    Send,
    SendFile,
    Edit,
    EditSay,
    Delete,
    Pin,
    Unpin,
    SetPermissions,
    Rename,
    RevokeLink,
    Leave,
    SetMenu,
    AnswerCallback,
)
Action = Any  # any of the dataclasses in this module (and the bot's own facts, see bot/pipeline.py)


def with_sent(action: Any, message_id: int, file_id: str = "") -> Any:
    """A follow-up with SENT (SENT_FILE) replaced by the message (file) the action before it sent."""
    if getattr(action, "message_id", None) == SENT:
        action = dataclasses.replace(action, message_id=message_id)
    if getattr(action, "file_id", None) == SENT_FILE:
        action = dataclasses.replace(action, file_id=file_id)
    return action


def is_telegram(action: Any) -> bool:
    return isinstance(action, TELEGRAM_ACTIONS)
