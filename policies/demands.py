"""Recognise messages that require members to reply "received" or confirm, and urgent matters.

A demand is a phrase such as "收到请回复", "请回复1", "请接龙", "please reply 'received'",
in any clause of a message. A clause that negates it ("无需回复收到"), only talks about it
("收到请回复这种要求…"), quotes it (“收到请回复”), asks a question, or asks for something with
substance ("请回复确认时间", "请回复1或2") is not a demand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from policies.acks import with_wechat_emoji
from policies.text import compact, fold, has_fullwidth_alnum, has_question_mark, lowered, normalize, trie_pattern
from policies.verdict import Verdict

_WHO = r"(?:大家|各位|各单位|各社区|各村|各网格|各部门|全体|所有人|每个人|每人|你们|您|各[\u4e00-\u9fff]{1,4}?)?"
_PLEASE = r"(?:请|請|务必|務必|麻烦|烦请|需|需要|要|记得|都)"
# Only these open a demand with words in between: "要" or "都" would try every clause.
_ASK = r"(?:请|請|务必|務必|麻烦|烦请)"
_SEEN = r"(?:收到|看到|看见|看過|看过|看完|读完|阅读|阅后|已阅|读到|查收|收到消息|看到消息)"
_REPLY = r"(?:回复|回覆|回|扣|反馈|反饋|答复|回应)"
# The ack asked for: a word that only acknowledges, "1", or a thumbs-up.
_WHAT = r"(?:收到|1+|一下收到|确认|確認|已阅|已读|已閱|已学习|明白|了解|知悉|ok|好的|好|已收到|👍)"
_HOW = r"(?:在群里|在群内|群里|及时|及時|尽快|马上|立即|立刻|分别|统一|都)?"
_AMOUNT = r"(?:一下|个|一个|個)?"
# Who, when or on what condition, between "请" and the reply it asks for ("请各位组员看到后回复",
# "请在今晚八点前回复收到"): a few words without a clause break.
_GAP = r"(?:(?!请)\w){0,12}?"
# Shorter, between the parts of a like asked for as proof ("请大家看完后点个赞"): two long gaps
# in one pattern would be tried at every 请.
_NEAR = r"(?:(?!请)\w){0,6}?"
_LIKE = r"(?:点|回|发|竖|给个)(?:个|一个|一下)?(?:赞|👍|大拇指)"

ZH_DEMANDS = (
    # 收到请回复1 / 看到请回个1 / 收到后请各位回复确认 / 收到的回复一下 (a target, or the clause ends here)
    rf"{_SEEN}后?的?{_WHO}{_PLEASE}?{_WHO}{_HOW}{_REPLY}{_AMOUNT}(?:{_WHAT}|$)",
    # 请各社区收到后回复 / 请参训学员收到后回个好 / 请各科室负责人看到消息后在群里回复
    rf"{_ASK}{_GAP}{_SEEN}后{_HOW}{_REPLY}{_AMOUNT}(?:{_WHAT}|$)",
    # 请回复收到 / 请在今晚八点前回复收到 / 请每位网格员回复收到
    rf"{_PLEASE}{_WHO}{_HOW}{_REPLY}{_AMOUNT}{_WHAT}",
    rf"{_ASK}{_GAP}{_HOW}{_REPLY}{_AMOUNT}{_WHAT}",
    # 大家扣1 / 各位回复收到
    rf"(?:大家|各位|全体){_HOW}{_REPLY}{_AMOUNT}(?:1+|收到|确认)",
    # 回复收到，并于周五前报送 / 并回复收到 (an order that starts its clause)
    rf"^(?:并|并且|同时|再|然后)?{_HOW}(?:回复|扣){_AMOUNT}(?:收到|1+|已阅)",
    # 请确认收到 / 请确认已读
    rf"{_PLEASE}{_WHO}(?:确认|確認)(?:已)?(?:收到|已读|已阅|收悉)",
    # 请接龙 / 收到请接龙 / 接龙确认 (a roll call, 接龙报到, is a check-in: see policies.formalism)
    rf"(?:(?:{_PLEASE}{_WHO}|{_SEEN}后?)接龙|接龙(?:确认|回复))(?!报到|签到|报平安|报名|统计|签退)",
    # 看到请点赞 / 已阅请点个👍 / 请大家看到后点个赞 / 点赞表示已阅
    rf"{_SEEN}后?的?{_PLEASE}?{_NEAR}{_LIKE}",
    rf"{_ASK}{_NEAR}{_SEEN}后?的?{_NEAR}{_LIKE}",
    r"点个?赞(?:表示|以示)(?:已经)?(?:已阅|已读|收到|看到|知悉)",
)
_EN_TARGET = r"(?:received|receipt|1+|one|ok|okay|noted|gotit|yes|👍)"
EN_DEMANDS = (
    rf"(?:please|pls|plz|kindly)?(?:all|everyone|everybody)?(?:reply|respond|answer)(?:back)?(?:with)?{_EN_TARGET}(?:please)?",
    r"(?:please|pls|plz|kindly)(?:reply|respond)(?:once|when|after|if)(?:you(?:have|ve)?)?(?:received|seen|read)",
    r"(?:reply|respond)toconfirm(?:receipt|(?:that)?you(?:have|ve)?(?:received|read|seen))",
    r"(?:please|pls|plz|kindly)(?:confirm|acknowledge)(?:receipt|(?:that)?you(?:have|ve)?(?:received|read|seen)|thismessage|this)",
    r"(?:please|pls|plz|kindly)acknowledge$",
    r"(?:confirm|acknowledge)receipt",
    r"letmeknow(?:that)?you(?:have|ve)?(?:seen|read|received)",
    r"(?:drop|give|leave|send|post)(?:this|it|me|us)?(?:a|an)?(?:👍|thumbsup|like|1)"
    r"(?:once|when|after|if)(?:you(?:have|ve)?)?(?:seen|read|received)",
)
# Just before a phrase, in the same clause: it says the opposite ("no need to reply received").
NEGATIONS = (
    "又要",
    "不要",
    "不用",
    "无需",
    "無需",
    "无须",
    "不必",
    "勿",
    "别再",
    "别回",
    "禁止",
    "不再",
    "不需要",
    "免回",
    "不得回",
    "严禁",
    "没",
    "沒",
    "未",
    "noneed",
    "dont",
    "donot",
    "notrequired",
    "neednot",
    "never",
    "stop",
)
# Just after a phrase: it is talked about, not asked for ("收到请回复这种要求").
MENTIONS = (
    "这种",
    "這種",
    "这类",
    "这样",
    "之类",
    "的要求",
    "也免",
    "免了",
    "也不用",
    "就不用",
    "也不需要",
    "的做法",
    "这个要求",
    "一直",
    "形式主义",
    "的情况",
    "现象",
    "requests",
    "demands",
    "islike",
    "isformalism",
)
# After a phrase that asks for "1" or "确认", only these may follow in its clause; anything
# else is substance ("请回复确认时间", "请回复1或2选择方案", "please reply one by one").
ALLOWED_TAILS = (
    "",
    "即可",
    "就行",
    "就可以",
    "就好",
    "谢谢",
    "为盼",
    "为谢",
    "哈",
    "哦",
    "一下",
    "thanks",
    "thankyou",
    "please",
)
# ...or a tail that only says when or why to reply ("reply 1 when you see this").
ALLOWED_TAIL_STARTS = (
    "确认",
    "表示",
    "以示",
    "when",
    "once",
    "after",
    "ifyou",
    "asap",
    "tothis",
    "toconfirm",
    "below",
    "inthegroup",
)
TRIGGERS = (
    "回复",
    "回覆",
    "回个",
    "回一",
    "回1",
    "回收到",
    "回确认",
    "回ok",
    "请回",
    "請回",
    "扣",
    "接龙",
    "确认",
    "確認",
    # Not 👍 itself: it is the commonest ack, and every demand for one has "回个", "点个" or "赞" too.
    "反馈",
    "反饋",
    "答复",
    "回应",
    "赞",
    "点个",
    "大拇指",
    "reply",
    "respond",
    "confirm",
    "acknowledge",
    "answer",
    "let me know",
    "thumbs",
    "drop a",
)
_CONTEXT = 12
CLAUSES = re.compile(r"[。！？!?；;，,\n…]+|\.(?:\s|$)")
QUOTES = re.compile(r"“[^”]*”|「[^」]*」|『[^』]*』|\"[^\"]*\"|‘[^’]*’|《[^》]*》")


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
        lowered = fold(text) if has_fullwidth_alnum(text) else with_wechat_emoji(text).lower()
        if self._triggers.search(lowered) is None:
            return Verdict("ack_demand", False, "no reply or confirm words")
        for clause in _clauses(self._unquote(lowered)):
            if self._triggers.search(clause) is None:
                continue  # most clauses of a long notice: not worth normalising
            found = self._demand_in(clause) or self._demand_in(_before_colon(clause))
            if found:
                return Verdict("ack_demand", True, f"asks for acknowledgement: {found!r}")
        return Verdict("ack_demand", False, "reply words, but no demand for an ack")

    def _unquote(self, text: str) -> str:
        """Quoted demands are talked about (“收到请回复”); a quoted ack word is the answer asked for."""

        def replace(match: re.Match[str]) -> str:
            inner = match.group(0)[1:-1]
            return " " if self.is_quoted_demand(inner) else inner

        return QUOTES.sub(replace, text)

    def _demand_in(self, clause: str) -> str | None:
        if not clause or has_question_mark(clause):
            return None
        match = self.demand_match(compact(clause))
        return match.group(0) if match else None

    def demand_match(self, squeezed: str) -> re.Match[str] | None:
        """The demand phrase in a clause already compacted (no punctuation or spaces), if any."""
        for match in self._pattern.finditer(squeezed):
            # The words before the phrase and those inside it ("请不要回复收到") may negate it.
            before = squeezed[max(0, match.start() - _CONTEXT) : match.end()].replace("分别", "")
            after = squeezed[match.end() :]
            if any(word in before for word in NEGATIONS) or after.startswith(MENTIONS):
                continue
            if _needs_clause_end(match.group(0)) and not harmless_tail(after):
                continue
            return match
        return None

    def is_quoted_demand(self, quoted: str) -> bool:
        """A demand inside quotes is talked about (“收到请回复”), not made."""
        return self._pattern.search(compact(quoted)) is not None


def _needs_clause_end(phrase: str) -> bool:
    """ "1", "确认" and English targets are demands only when nothing with substance follows."""
    return phrase.endswith(("1", "确认", "確認", "one", "yes", "ok", "okay"))


def harmless_tail(after: str) -> bool:
    """What may follow a demand in its clause without adding anything ("即可", "when you see this")."""
    return after in ALLOWED_TAILS or after.startswith(ALLOWED_TAIL_STARTS)


def _before_colon(clause: str) -> str:
    """ "收到请回复：社区名+姓名+收到": what comes before a colon may be the whole demand."""
    head, colon, _rest = clause.partition("：") if "：" in clause else clause.partition(":")
    return head if colon else ""


def _clauses(text: str) -> Iterable[str]:
    return (clause for clause in CLAUSES.split(text) if clause.strip())


DEFAULT_URGENT_MARKERS = ("【紧急】", "紧急", "特急", "加急", "急件", "十万火急", "#urgent", "urgent", "asap")
# A marker inside these words is not urgency: an "emergency contact list" is routine.
URGENT_COMPOUNDS = (
    "紧急联系人",
    "紧急联络人",
    "紧急联系方式",
    "紧急避难",
    "紧急疏散",
    "紧急预案",
    "紧急救援队",
    "urgentcare",
)
URGENT_NEGATIONS = ("不", "非", "無", "无", "并非", "不是", "not", "non", "less")
URGENT_COMMAND = "/urgent"


class UrgencyRule:
    """Urgent matters are exempt from the "received" rule: markers or a /urgent prefix."""

    def __init__(self, markers: Iterable[str] = DEFAULT_URGENT_MARKERS) -> None:
        self._markers = tuple(dict.fromkeys(normalize(marker) for marker in markers if normalize(marker)))
        # Each marker's last character survives normalising, so a text without any of them has
        # no marker: most messages are ruled out without the costly normalisation.
        self._last_characters = frozenset(marker[-1] for marker in self._markers)

    def judge(self, text: str) -> Verdict:
        if not text:
            return Verdict("urgent", False, "empty")
        text_lowered = lowered(text)
        if text_lowered.lstrip().startswith(URGENT_COMMAND):
            return Verdict("urgent", True, "sent with /urgent")
        if not any(character in text_lowered for character in self._last_characters):
            return Verdict("urgent", False, "no urgent marker")
        squeezed = normalize(text)
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
