"""The whistle draft's state machine, pair by pair: every (step, event) has a declared outcome."""

from __future__ import annotations

import pytest

from policies.whistle_draft import TABLE, Do, Event, Step, Transition, settle, transition

D, C, S, E, R = Step.DEPARTMENT, Step.CATEGORY, Step.DESCRIPTION, Step.EVIDENCE, Step.REVIEW
STALE = "error.stale_button"
TEXT_EXPECTED = "whistle.error.text_expected"


def go(step: Step | None, do: Do) -> Transition:
    return Transition(step, do)


def no(step: Step, answer: str) -> Transition:
    return Transition(step, Do.REFUSE, answer)


def every_step(event: Event, outcome: Transition | None = None) -> dict[tuple[Step, Event], Transition]:
    return {(step, event): outcome or no(step, STALE) for step in Step}


# The whole machine, written out: a change to the table must change this too.
EXPECTED: dict[tuple[Step, Event], Transition] = {
    **every_step(Event.PRESS_CANCEL, go(None, Do.CANCEL)),
    **every_step(Event.CANCEL, go(None, Do.CANCEL)),
    **every_step(Event.PRESS_RESTART, go(D, Do.START_OVER)),
    **every_step(Event.TIMEOUT, Transition(None, Do.EXPIRE, "whistle.expired")),
    **{(step, Event.EDITED): no(step, "whistle.edit_ignored") for step in Step},
    # buttons: only the step's own move it
    **every_step(Event.PRESS_DEPARTMENT),
    (D, Event.PRESS_DEPARTMENT): go(C, Do.CHOOSE_DEPARTMENT),
    **every_step(Event.PRESS_KEEP_TYPED),
    (D, Event.PRESS_KEEP_TYPED): go(C, Do.KEEP_TYPED_DEPARTMENT),
    **every_step(Event.PRESS_CATEGORY),
    (C, Event.PRESS_CATEGORY): go(S, Do.SET_CATEGORY),
    **every_step(Event.PRESS_EVIDENCE_DONE),
    (E, Event.PRESS_EVIDENCE_DONE): go(R, Do.FINISH_EVIDENCE),
    **every_step(Event.PRESS_SUBMIT),
    (R, Event.PRESS_SUBMIT): go(None, Do.SUBMIT),
    # messages
    (D, Event.TEXT): go(C, Do.MATCH_TYPED_DEPARTMENT),
    (D, Event.FILE): no(D, TEXT_EXPECTED),
    (D, Event.OTHER): no(D, TEXT_EXPECTED),
    (C, Event.TEXT): no(C, "whistle.use_buttons_category"),
    (C, Event.FILE): no(C, "whistle.use_buttons_category"),
    (C, Event.OTHER): no(C, "whistle.use_buttons_category"),
    (S, Event.TEXT): go(E, Do.SET_DESCRIPTION),
    (S, Event.FILE): no(S, TEXT_EXPECTED),
    (S, Event.OTHER): no(S, TEXT_EXPECTED),
    (E, Event.TEXT): go(E, Do.ADD_EVIDENCE),
    (E, Event.FILE): go(E, Do.ADD_EVIDENCE),
    (E, Event.OTHER): go(E, Do.ADD_EVIDENCE),
    (R, Event.TEXT): no(R, "whistle.use_buttons_review"),
    (R, Event.FILE): no(R, "whistle.use_buttons_review"),
    (R, Event.OTHER): no(R, "whistle.use_buttons_review"),
}


def test_every_pair_is_declared() -> None:
    assert set(TABLE) == {(step, event) for step in Step for event in Event}


@pytest.mark.parametrize(("step", "event"), [(step, event) for step in Step for event in Event])
def test_each_pair_has_its_outcome(step: Step, event: Event) -> None:
    assert transition(step, event) == EXPECTED[step, event]


def test_a_refusal_keeps_the_step_and_has_an_answer() -> None:
    for (step, _event), move in TABLE.items():
        if move.refused:
            assert move.next is step and move.answer


def test_the_evidence_step_is_skipped_when_none_is_allowed() -> None:
    assert settle(E, max_evidence=0) is R
    assert settle(E, max_evidence=3) is E
    assert [settle(step, 0) for step in (D, C, S, R)] == [D, C, S, R]
