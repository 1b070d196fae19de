"""What a message demanding acks becomes when it is reposted as a tracked notice: itself, minus the demand.

"【通知】周六停水，收到请回复。" becomes "【通知】周六停水。"; "请各社区回复收到，并于周五前报送台账"
becomes "请各社区于周五前报送台账". Everything but the demand stays as the sender wrote it; a
clause that only made the demand goes with its separator, and a second order joined to it keeps
its addressee ("请回复收到并转发" becomes "请转发").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from policies.acks import WECHAT_CODE, WECHAT_CODES, with_wechat_emoji
from policies.demands import CLAUSES, QUOTES, DemandRule, harmless_tail
from policies.text import compact, has_question_mark

# Separators that end a sentence: kept at the end when the last clause goes.
_TERMINAL = re.compile(r"[。！!？?…]|\.\s*$")
# A second order joined to the demand ("并于周五前报送"): it takes over the demand's addressee.
_JOINED = re.compile(r"^\s*(?:并且|并|同时|然后|再)")
_ADDRESSEE = re.compile(
    r"^(?:请|麻烦|烦请)(?:大家|各位|全体[\u4e00-\u9fff]{0,5}?|各[\u4e00-\u9fff]{1,5}?)?(?=回|扣|看|收|阅|分别|及时|在群|于)"
)


@dataclass
class _Piece:
    clause: str
    separator: str


def without_demand(rule: DemandRule, text: str) -> str:
    """`text` without the demand for acks in it; "" when the demand was all there was."""
    pieces = _pieces(text)
    mentions = _quoted_mentions(rule, text)
    offset, index = 0, 0
    while index < len(pieces):
        piece = pieces[index]
        cut = _demand_cut(rule, piece.clause, offset, mentions)
        offset += len(piece.clause) + len(piece.separator)
        if cut is None:
            index += 1
            continue
        start, end, addressee = cut
        if start == 0 and end == len(piece.clause):
            _remove(pieces, index, addressee)
            continue
        rest = piece.clause[end:]
        if start == 0 and _JOINED.match(rest):
            rest = addressee + _JOINED.sub("", rest)
        piece.clause = piece.clause[:start] + rest
        index += 1
    return "".join(piece.clause + piece.separator for piece in pieces).strip()


def _pieces(text: str) -> list[_Piece]:
    pieces, start = [], 0
    for separator in CLAUSES.finditer(text):
        pieces.append(_Piece(text[start : separator.start()], separator.group(0)))
        start = separator.end()
    if start < len(text):
        pieces.append(_Piece(text[start:], ""))
    return pieces


def _quoted_mentions(rule: DemandRule, text: str) -> list[tuple[int, int]]:
    """Where a demand is quoted (“收到请回复”): talked about, so left in place."""
    return [quote.span() for quote in QUOTES.finditer(text) if rule.is_quoted_demand(quote.group(0)[1:-1])]


def _demand_cut(
    rule: DemandRule, clause: str, offset: int, mentions: list[tuple[int, int]]
) -> tuple[int, int, str] | None:
    """Where the demand sits in the clause (start, end) and whom it addressed ("请各社区")."""
    if has_question_mark(clause):
        return None
    squeezed, spans = _compact_with_spans(clause)
    match = rule.demand_match(squeezed)
    whole_clause = False
    if match is None:
        head = re.split("[：:]", clause, maxsplit=1)[0]
        if head == clause or (match := rule.demand_match(compact(with_wechat_emoji(head)))) is None:
            return None
        whole_clause = True  # "收到请回复：社区名+姓名+收到": the format after the colon goes too
    start, end = spans[match.start()][0], spans[match.end() - 1][1]
    if any(offset + start < quoted_end and quoted_start < offset + end for quoted_start, quoted_end in mentions):
        return None
    if whole_clause or harmless_tail(compact(clause[end:])):
        end = len(clause)
    if not compact(clause[:start]):
        start = 0
    addressee = _ADDRESSEE.match(squeezed[match.start() :])
    return start, end, addressee.group(0) if addressee else ("请" if "请" in match.group(0) else "")


def _compact_with_spans(clause: str) -> tuple[str, list[tuple[int, int]]]:
    """The clause as the demand rule reads it (WeChat codes as emoji, no punctuation), and for
    each of its characters the stretch of the clause it came from."""
    characters: list[str] = []
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(clause):
        code = WECHAT_CODE.match(clause, index)
        end = code.end() if code else index + 1
        for character in compact(WECHAT_CODES[code.group(1).lower()] if code else clause[index]):
            characters.append(character)
            spans.append((index, end))
        index = end
    return "".join(characters), spans


def _remove(pieces: list[_Piece], index: int, addressee: str) -> None:
    """Drop a clause that only made the demand, with the right separator around what remains."""
    removed = pieces.pop(index)
    if index == len(pieces) and index > 0:
        # The last clause: the one before it now ends the text, with a sentence's end.
        before = pieces[index - 1]
        if not _TERMINAL.search(before.separator):
            before.separator = removed.separator if _TERMINAL.search(removed.separator) else ""
    elif index < len(pieces) and _JOINED.match(pieces[index].clause):
        pieces[index].clause = addressee + _JOINED.sub("", pieces[index].clause)
