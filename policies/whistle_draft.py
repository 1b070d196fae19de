"""The whistle draft as a declared state machine: for each step of a report being written and each
thing the person does, the next step and what to do, or the polite answer that refuses the input.

The handler (bot/handlers/whistle.py) turns an update into an Event, asks `transition`, and acts:
it carries out `do`, and when that took the input it moves the draft to `next` and asks that
step's question. An action may still keep the step because the content is wrong (a description too
short, a department removed since its button was drawn); that is the content's verdict, not the
table's. Expiry happens before any step is read (the draft is deleted unread), so TIMEOUT does the
same in every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Step(StrEnum):
    DEPARTMENT = "department"
    CATEGORY = "category"
    DESCRIPTION = "description"
    EVIDENCE = "evidence"
    REVIEW = "review"


class Event(StrEnum):
    """What the person did. The PRESS_* events are the draft's buttons, one per kind."""

    PRESS_CANCEL = "press_cancel"
    PRESS_RESTART = "press_restart"
    PRESS_DEPARTMENT = "press_department"
    PRESS_KEEP_TYPED = "press_keep_typed"
    PRESS_CATEGORY = "press_category"
    PRESS_EVIDENCE_DONE = "press_evidence_done"
    PRESS_SUBMIT = "press_submit"
    TEXT = "text"
    FILE = "file"  # a photo or a document
    OTHER = "other"  # a sticker, a voice note, a location…
    EDITED = "edited"
    CANCEL = "cancel"  # /cancel
    TIMEOUT = "timeout"  # idle longer than flow_expire_minutes


class Do(StrEnum):
    """What the handler carries out; each name says which part of the draft it fills."""

    REFUSE = "refuse"
    CANCEL = "cancel"
    START_OVER = "start_over"
    CHOOSE_DEPARTMENT = "choose_department"
    MATCH_TYPED_DEPARTMENT = "match_typed_department"
    KEEP_TYPED_DEPARTMENT = "keep_typed_department"
    SET_CATEGORY = "set_category"
    SET_DESCRIPTION = "set_description"
    ADD_EVIDENCE = "add_evidence"
    FINISH_EVIDENCE = "finish_evidence"
    SUBMIT = "submit"
    EXPIRE = "expire"


@dataclass(frozen=True)
class Transition:
    """`next` is the step once `do` took the input; None when the draft is gone (sent, cancelled,
    expired). A refusal keeps the step and says `answer` (a catalog key)."""

    next: Step | None
    do: Do
    answer: str | None = None

    @property
    def refused(self) -> bool:
        return self.do is Do.REFUSE


def _refuse(step: Step, answer: str) -> Transition:
    return Transition(step, Do.REFUSE, answer)


CANCELLED = Transition(None, Do.CANCEL)
TIMED_OUT = Transition(None, Do.EXPIRE, "whistle.expired")
STALE_BUTTON = "error.stale_button"
TEXT_EXPECTED = "whistle.error.text_expected"

BUTTONS = frozenset(event for event in Event if event.name.startswith("PRESS_"))

# Only the step's own buttons move it; cancel and start over work in every step.
_STEP_BUTTONS: dict[Step, dict[Event, Transition]] = {
    Step.DEPARTMENT: {
        Event.PRESS_DEPARTMENT: Transition(Step.CATEGORY, Do.CHOOSE_DEPARTMENT),
        Event.PRESS_KEEP_TYPED: Transition(Step.CATEGORY, Do.KEEP_TYPED_DEPARTMENT),
    },
    Step.CATEGORY: {Event.PRESS_CATEGORY: Transition(Step.DESCRIPTION, Do.SET_CATEGORY)},
    Step.DESCRIPTION: {},
    Step.EVIDENCE: {Event.PRESS_EVIDENCE_DONE: Transition(Step.REVIEW, Do.FINISH_EVIDENCE)},
    Step.REVIEW: {Event.PRESS_SUBMIT: Transition(None, Do.SUBMIT)},
}

MESSAGES = (Event.TEXT, Event.FILE, Event.OTHER)

# What a message does in each step. In EVIDENCE every message goes to ADD_EVIDENCE, which says
# "the evidence is full" before "send text, a photo or a file": the count matters more.
_STEP_MESSAGES: dict[Step, dict[Event, Transition]] = {
    Step.DEPARTMENT: {
        Event.TEXT: Transition(Step.CATEGORY, Do.MATCH_TYPED_DEPARTMENT),
        Event.FILE: _refuse(Step.DEPARTMENT, TEXT_EXPECTED),
        Event.OTHER: _refuse(Step.DEPARTMENT, TEXT_EXPECTED),
    },
    Step.CATEGORY: {kind: _refuse(Step.CATEGORY, "whistle.use_buttons_category") for kind in MESSAGES},
    Step.DESCRIPTION: {
        Event.TEXT: Transition(Step.EVIDENCE, Do.SET_DESCRIPTION),
        Event.FILE: _refuse(Step.DESCRIPTION, TEXT_EXPECTED),
        Event.OTHER: _refuse(Step.DESCRIPTION, TEXT_EXPECTED),
    },
    Step.EVIDENCE: {kind: Transition(Step.EVIDENCE, Do.ADD_EVIDENCE) for kind in MESSAGES},
    Step.REVIEW: {kind: _refuse(Step.REVIEW, "whistle.use_buttons_review") for kind in MESSAGES},
}


def _table() -> dict[tuple[Step, Event], Transition]:
    table: dict[tuple[Step, Event], Transition] = {}
    for step in Step:
        for event in BUTTONS:
            # A button of another step is an old prompt's: it changes nothing and says so.
            table[step, event] = _STEP_BUTTONS[step].get(event, _refuse(step, STALE_BUTTON))
        table.update({(step, event): move for event, move in _STEP_MESSAGES[step].items()})
        table[step, Event.PRESS_CANCEL] = table[step, Event.CANCEL] = CANCELLED
        table[step, Event.PRESS_RESTART] = Transition(Step.DEPARTMENT, Do.START_OVER)
        # The report takes what was sent; an edit is not read.
        table[step, Event.EDITED] = _refuse(step, "whistle.edit_ignored")
        table[step, Event.TIMEOUT] = TIMED_OUT
    return table


TABLE: dict[tuple[Step, Event], Transition] = _table()


def transition(step: Step, event: Event) -> Transition:
    """The next step and what to do when `event` happens in `step` (every pair is declared)."""
    return TABLE[step, event]


def settle(step: Step, max_evidence: int) -> Step:
    """The step actually asked: evidence is skipped when bot.toml allows none."""
    return Step.REVIEW if step is Step.EVIDENCE and max_evidence == 0 else step
