"""Recognise messages that require members to reply "received" or confirm, and urgent matters.

A demand is a phrase such as "收到请回复", "请回复1", "请接龙", "please reply 'received'",
in any clause of a message. A clause that negates it ("无需回复收到"), only talks about it
("收到请回复这种要求…"), quotes it (“收到请回复”), asks a question, or asks for something with
substance ("请回复确认时间", "请回复1或2") is not a demand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from policies.text import compact, fold, has_question_mark, normalize, squeeze, trie_pattern
from policies.verdict import Verdict

_WHO = r"(?:大家|各位|各单位|各社区|各村|各网格|各部门|全体|所有人|每个人|每人|你们|您|各[\u4e00-\u9fff]{1,4}?)?"
_PLEASE = r"(?:请|請|务必|務必|麻烦|烦请|需|需要|要|记得|都)"
_SEEN = r"(?:收到|看到|看见|看過|看过|阅读|阅后|已阅|读到|收到消息|看到消息)"
_REPLY = r"(?:回复|回覆|回|扣|反馈|反饋|答复|回应)"
_WHAT = r"(?:收到|1+|一下收到|确认|確認|已阅|ok|好的|知悉|已收到)"
_HOW = r"(?:在群里|在群内|群里|及时|及時|尽快|分别|统一|都)?"
_AMOUNT = r"(?:一下|个|一个|個)?"

ZH_DEMANDS = (
    # 收到请回复1 / 看到请回个1 / 收到后请各位回复确认 (a target, or the clause ends here)
    rf"{_SEEN}后?的?{_WHO}{_PLEASE}{_WHO}{_HOW}{_REPLY}{_AMOUNT}(?:{_WHAT}|$)",
    # 请各社区收到后回复 / 请各村收到后及时反馈
    rf"{_PLEASE}{_WHO}{_SEEN}后{_HOW}{_REPLY}{_AMOUNT}(?:{_WHAT}|$)",
    # 收到回复1 / 看到扣1 (no "请": the target is required)
    rf"{_SEEN}后?{_WHO}{_HOW}{_REPLY}{_AMOUNT}(?:1+|收到|确认)",
    # 请回复收到 / 请大家扣1 / 请及时反馈已阅
    rf"{_PLEASE}{_WHO}{_HOW}{_REPLY}{_AMOUNT}{_WHAT}",
    # 大家扣1 / 各位回复收到
    rf"(?:大家|各位|全体){_HOW}{_REPLY}{_AMOUNT}(?:1+|收到|确认)",
    # 请确认收到 / 请确认已读
    rf"{_PLEASE}{_WHO}(?:确认|確認)(?:已)?(?:收到|已读|已阅|收悉)",
    # 请接龙 / 收到请接龙 / 接龙确认
    rf"(?:{_PLEASE}{_WHO}|{_SEEN}后?)接龙|接龙(?:确认|报到|回复)",
)
_EN_TARGET = r"(?:received|receipt|1+|one|ok|okay|noted|gotit|yes)"
EN_DEMANDS = (
    rf"(?:please|pls|plz|kindly)?(?:all|everyone|everybody)?(?:reply|respond|answer)(?:back)?(?:with)?{_EN_TARGET}(?:please)?",
    r"(?:please|pls|plz|kindly)(?:reply|respond)(?:once|when|after|if)(?:you(?:have|ve)?)?(?:received|seen|read)",
    r"(?:reply|respond)toconfirm(?:receipt|(?:that)?you(?:have|ve)?(?:received|read|seen))",
    r"(?:please|pls|plz|kindly)(?:confirm|acknowledge)(?:receipt|(?:that)?you(?:have|ve)?(?:received|read|seen)|thismessage|this)",
    r"(?:please|pls|plz|kindly)acknowledge$",
    r"(?:confirm|acknowledge)receipt",
)
# Just before a phrase, in the same clause: it says the opposite ("no need to reply received").
NEGATIONS = (
    "不要", "不用", "无需", "無需", "无须", "不必", "勿", "别再", "别回", "禁止", "不再", "不需要", "免回",
    "不得回", "严禁", "没", "沒", "未", "noneed", "dont", "donot", "notrequired", "neednot", "never", "stop",
)
# Just after a phrase: it is talked about, not asked for ("收到请回复这种要求").
MENTIONS = (
    "这种", "這種", "这类", "这样", "之类", "的要求", "的做法", "这个要求", "一直", "形式主义", "的情况", "现象",
    "requests", "demands", "islike", "isformalism",
)
# After a phrase that asks for "1" or "确认", only these may follow in its clause; anything
# else is substance ("请回复确认时间", "请回复1或2选择方案", "please reply one by one").
ALLOWED_TAILS = ("", "即可", "就行", "就可以", "就好", "谢谢", "为盼", "为谢", "哈", "哦", "一下", "thanks", "thankyou", "please")
# ...or a tail that only says when or why to reply ("reply 1 when you see this").
ALLOWED_TAIL_STARTS = (
    "确认", "表示", "以示", "when", "once", "after", "ifyou", "asap", "tothis", "toconfirm", "below", "inthegroup",
)
TRIGGERS = (
    "回复", "回覆", "回个", "回一", "回1", "回收到", "回确认", "回ok", "请回", "請回", "扣", "接龙", "确认", "確認",
    "反馈", "反饋", "答复", "回应", "reply", "respond", "confirm", "acknowledge", "answer",
)
_CONTEXT = 12
_CLAUSES = re.compile(r"[。！？!?；;，,\n…]+|\.(?:\s|$)")
_QUOTES = re.compile(r"“[^”]*”|「[^」]*」|『[^』]*』|\"[^\"]*\"|‘[^’]*’|《[^》]*》")
_FULLWIDTH_LETTERS = re.compile("[\uff21-\uff3a\uff41-\uff5a]")


class DemandRule:
    """Finds ack demands; carries its compiled patterns."""

    def __init__(self) -> None:
        self._pattern = re.compile("|".join(f"(?:{p})" for p in ZH_DEMANDS + EN_DEMANDS))
        self._triggers = re.compile(trie_pattern(TRIGGERS))

    def judge(self, text: str) -> Verdict:
        if not text:
            return Verdict("ack_demand", False, "empty")
        # The trigger check runs on the raw text: folding is costly and only matters for
        # full-width letters ("ＲＥＰＬＹ"), which are folded first when present.
        lowered = fold(text) if _FULLWIDTH_LETTERS.search(text) else text.lower()
        if self._triggers.search(lowered) is None:
            return Verdict("ack_demand", False, "no reply or confirm words")
        for clause in _clauses(self._unquote(lowered)):
            if self._triggers.search(clause) is None:
                continue  # most clauses of a long notice: not worth normalising
            found = self._demand_in(clause)
            if found:
                return Verdict("ack_demand", True, f"asks for acknowledgement: {found!r}")
        return Verdict("ack_demand", False, "reply words, but no demand for an ack")

    def _unquote(self, text: str) -> str:
        """Quoted demands are talked about (“收到请回复”); a quoted ack word is the answer asked for."""
        def replace(match: re.Match[str]) -> str:
            inner = match.group(0)[1:-1]
            return " " if self._pattern.search(compact(inner)) else inner

        return _QUOTES.sub(replace, text)

    def _demand_in(self, clause: str) -> str | None:
        if has_question_mark(clause):
            return None
        squeezed = compact(clause)
        for match in self._pattern.finditer(squeezed):
            before = squeezed[max(0, match.start() - _CONTEXT) : match.start() + 2]
            after = squeezed[match.end() :]
            if any(word in before for word in NEGATIONS) or after.startswith(MENTIONS):
                continue
            if _needs_clause_end(match.group(0)) and not _harmless_tail(after):
                continue
            return match.group(0)
        return None


def _needs_clause_end(phrase: str) -> bool:
    """"1", "确认" and English targets are demands only when nothing with substance follows."""
    return phrase.endswith(("1", "确认", "確認", "one", "yes", "ok", "okay"))


def _harmless_tail(after: str) -> bool:
    return after in ALLOWED_TAILS or after.startswith(ALLOWED_TAIL_STARTS)


def _clauses(text: str) -> Iterable[str]:
    return (clause for clause in _CLAUSES.split(text) if clause.strip())


DEFAULT_URGENT_MARKERS = ("【紧急】", "紧急", "特急", "加急", "急件", "十万火急", "#urgent", "urgent", "asap")
# A marker inside these words is not urgency: an "emergency contact list" is routine.
URGENT_COMPOUNDS = ("紧急联系人", "紧急联络人", "紧急联系方式", "紧急避难", "紧急疏散", "紧急预案", "紧急救援队", "urgentcare")
URGENT_NEGATIONS = ("不", "非", "無", "无", "并非", "不是", "not", "non", "less")
URGENT_COMMAND = "/urgent"


class UrgencyRule:
    """Urgent matters are exempt from the "received" rule: markers or a /urgent prefix."""

    def __init__(self, markers: Iterable[str] = DEFAULT_URGENT_MARKERS) -> None:
        self._markers = tuple(dict.fromkeys(normalize(marker) for marker in markers if normalize(marker)))
        # normalize only drops and merges characters of the folded text, so a text whose folded
        # form lacks one chosen character of every marker has none: most messages stop there.
        keys = sorted({re.escape(max(marker)) for marker in self._markers})
        self._marker_keys = re.compile("[" + "".join(keys) + "]")

    def judge(self, text: str) -> Verdict:
        if not text:
            return Verdict("urgent", False, "empty")
        if text.lstrip().lower().startswith(URGENT_COMMAND):
            return Verdict("urgent", True, "sent with /urgent")
        folded = fold(text)
        if self._marker_keys.search(folded) is None:
            return Verdict("urgent", False, "no urgent marker")
        squeezed = squeeze(folded)
        for compound in URGENT_COMPOUNDS:
            squeezed = squeezed.replace(compound, "")
        for marker in self._markers:
            if marker not in squeezed:
                # Most messages carry no marker: skip the search for each occurrence.
                continue
            for found in re.finditer(re.escape(marker), squeezed):
                before = squeezed[max(0, found.start() - 3) : found.start()]
                if not any(before.endswith(negation) for negation in URGENT_NEGATIONS):
                    return Verdict("urgent", True, f"urgent marker {marker!r}")
        return Verdict("urgent", False, "no urgent marker")
