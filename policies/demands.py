"""Recognise messages that require members to reply "received" or confirm, and urgent matters.

A demand is a phrase such as "收到请回复", "请回复1", "请接龙", "please reply 'received'",
anywhere in a message. A phrase that is negated ("无需回复收到") or only talked about
("收到请回复这种要求…") is not a demand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from policies.text import fold, normalize, trie_pattern
from policies.verdict import Verdict

_WHO = r"(?:大家|各位|各单位|各社区|各村|各网格|各部门|全体|所有人|每个人|每人|你们|您)?"
_PLEASE = r"(?:请|务必|麻烦|烦请|需|需要|要|记得|都)"
_SEEN = r"(?:收到|看到|看见|看过|阅读|阅后|已阅|读到)"
_REPLY = r"(?:回复|回|扣|反馈|答复|回应)"
_WHAT = r"(?:收到|1|一|一下收到|确认|已阅|ok|好的|知悉|已收到)"
_HOW = r"(?:在群里|在群内|群里|及时|尽快|分别|统一|都)?"

ZH_DEMANDS = (
    # 收到请回复 / 看到请回个1 / 收到后请各位回复确认
    rf"{_SEEN}后?的?{_WHO}{_PLEASE}{_WHO}{_HOW}{_REPLY}(?:一下|个|一个)?{_WHAT}?",
    # 收到回复1 / 看到扣1 (no "请", so the target is required)
    rf"{_SEEN}后?{_WHO}{_REPLY}(?:个|一个)?(?:1|一|收到|确认)",
    # 请回复收到 / 请大家扣1 / 请及时反馈已阅
    rf"{_PLEASE}{_WHO}{_HOW}{_REPLY}(?:一下|个|一个)?{_WHAT}",
    # 大家扣1 / 各位回复收到
    rf"(?:大家|各位|全体)(?:在群里)?{_REPLY}(?:个|一个)?(?:1|收到|确认)",
    # 请确认收到 / 请回复确认 / 请确认已读
    rf"{_PLEASE}?{_WHO}确认(?:已)?(?:收到|已读|已阅|收悉)",
    # 请接龙 / 收到请接龙 / 接龙确认
    rf"(?:{_PLEASE}{_WHO}|{_SEEN}后?)接龙|接龙(?:确认|报到|回复)",
)
EN_DEMANDS = (
    r"(?:please|pls|plz|kindly)(?:all|everyone)?(?:reply|respond|answer|reply(?:with|back))(?:with)?(?:received|1|one|ok|okay|yes|noted|gotit)",
    r"(?:reply|respond)(?:with)?(?:received|1|one|ok|noted)(?:when|once|after|ifyou|tocon)",
    r"(?:please|pls|plz|kindly)(?:confirm|acknowledge)(?:receipt|thatyou|youhave|received|this)?",
    r"(?:confirm|acknowledge)receipt",
)
# Before a phrase: it says the opposite ("no need to reply received").
NEGATIONS = (
    "不要", "不用", "无需", "无须", "不必", "勿", "别再", "别回", "禁止", "不再", "不需要", "免", "不得", "严禁",
    "noneed", "dont", "donot", "notrequired", "neednot", "never", "stop",
)
# After a phrase: it is talked about, not asked for ("收到请回复这种要求").
MENTIONS = (
    "这种", "这类", "这样", "之类", "的要求", "的做法", "这个要求", "要求", "一直", "形式主义", "的情况", "现象",
    "requests", "demands", "islike", "isformalism",
)
_CONTEXT = 6
# Every demand contains one of these; a message without any is not read further.
TRIGGERS = (
    "回复", "回个", "回一", "回1", "回收到", "回确认", "回ok", "扣", "接龙", "确认", "反馈", "答复", "回应",
    "reply", "respond", "confirm", "acknowledge", "answer",
)
_FULLWIDTH_LETTERS = re.compile("[\uff21-\uff3a\uff41-\uff5a]")


class DemandRule:
    """Finds ack demands; carries its compiled patterns."""

    def __init__(self) -> None:
        self._pattern = re.compile("|".join(f"(?:{p})" for p in ZH_DEMANDS + EN_DEMANDS))
        # Cheap pre-check: a message with none of these cannot contain a demand.
        self._triggers = re.compile(trie_pattern(TRIGGERS))

    def judge(self, text: str) -> Verdict:
        if not text:
            return Verdict("ack_demand", False, "empty")
        # The trigger check runs on the raw text: folding is costly and only matters for
        # full-width letters ("ＲＥＰＬＹ"), which are folded first when present.
        lowered = fold(text) if _FULLWIDTH_LETTERS.search(text) else text.lower()
        if self._triggers.search(lowered) is None:
            return Verdict("ack_demand", False, "no reply or confirm words")
        squeezed = normalize(text)
        for match in self._pattern.finditer(squeezed):
            # The negation may overlap the match: "无需回复" matches from "需".
            before = squeezed[max(0, match.start() - _CONTEXT) : match.start() + 2]
            after = squeezed[match.end() : match.end() + _CONTEXT + 2]
            if any(word in before for word in NEGATIONS):
                continue
            if any(after.startswith(word) for word in MENTIONS):
                continue
            return Verdict("ack_demand", True, f"asks for acknowledgement: {match.group(0)!r}")
        return Verdict("ack_demand", False, "reply words, but no demand for an ack")


DEFAULT_URGENT_MARKERS = ("【紧急】", "紧急", "特急", "加急", "急件", "十万火急", "#urgent", "urgent", "asap")
URGENT_NEGATIONS = ("不紧急", "非紧急", "不算紧急", "并不紧急", "不急", "noturgent", "nonurgent", "lessurgent")
URGENT_COMMAND = "/urgent"


class UrgencyRule:
    """Urgent matters are exempt from the "received" rule: markers or a /urgent prefix."""

    def __init__(self, markers: Iterable[str] = DEFAULT_URGENT_MARKERS) -> None:
        self._markers = tuple(dict.fromkeys(normalize(marker) for marker in markers if normalize(marker)))

    def judge(self, text: str) -> Verdict:
        if not text:
            return Verdict("urgent", False, "empty")
        if text.lstrip().lower().startswith(URGENT_COMMAND):
            return Verdict("urgent", True, "sent with /urgent")
        squeezed = normalize(text)
        if any(negation in squeezed for negation in URGENT_NEGATIONS):
            return Verdict("urgent", False, "says it is not urgent")
        for marker in self._markers:
            if marker in squeezed:
                return Verdict("urgent", True, f"urgent marker {marker!r}")
        return Verdict("urgent", False, "no urgent marker")
