"""Recognise messages that only acknowledge ("收到", "1", 👍): precision first.

A message is an ack only when, after normalisation, every part of it is ack vocabulary,
optionally after the sender's own name, a unit ("朝阳社区") or a pronoun. Any other word, any
number or symbol that means something, any question mark, makes it a real message and it is
kept: deleting a real message is the worst failure, so anything unsure is not an ack.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from policies.text import fold, has_question_mark, trie_pattern


class Strength(StrEnum):
    # "收到", "已阅", "received": an ack whatever it answers (but never under a question).
    STRONG = "strong"
    # "好的", "1", 👍: only where an ack is plainly expected (a notice, a demand).
    WEAK = "weak"


STRONG_WORDS = (
    "收到",
    "已收到",
    "收到了",
    "收悉",
    "已收悉",
    "知悉",
    "已知悉",
    "知道了",
    "已阅",
    "已阅读",
    "已读",
    "已閱",
    "已讀",
    "明白",
    "已明白",
    "明白了",
    "了解",
    "已了解",
    "了解了",
    "遵照执行",
    "照办",
    "received",
    "well received",
    "noted",
    "well noted",
    "got it",
    "i got it",
    "roger",
    "roger that",
    "copy",
    "copy that",
    "acknowledged",
    "ack",
    "understood",
)
WEAK_WORDS = ("好的", "好", "好嘞", "好滴", "嗯", "嗯嗯", "ok", "okay")
# A promise with nothing of its own ("马上安排", "保证完成"): it answers a notice like "好的" does.
# Anything that says what, when or how ("下午送过去", "今天落实", "已转发各网格") is not one.
PLEDGE_WORDS = (
    "马上安排",
    "立即安排",
    "马上落实",
    "立即落实",
    "抓紧落实",
    "认真落实",
    "坚决落实",
    "遵照落实",
    "按要求落实",
    "尽快落实",
    "一定落实到位",
    "落实到位",
    "保证完成",
    "保证完成任务",
    "坚决完成",
    "坚决完成任务",
    "按要求执行",
    "立即执行",
    "坚决执行",
    "马上执行",
    "尽快办理",
    "尽快办",
    "马上办",
    "马上去办",
    "这就去办",
    "这就办",
    "马上处理",
    "全力配合",
    "积极配合",
    "on it",
    "will do",
    "will handle",
    "will handle it",
    "will comply",
    "consider it done",
)
POLITE_WORDS = (
    "谢谢",
    "感谢",
    "多谢",
    "谢",
    "謝謝",
    "感謝",
    "多謝",
    "辛苦了",
    "辛苦",
    "辛苦啦",
    "谢谢领导",
    "领导",
    "老师",
    "主任",
    "书记",
    "谢谢提醒",
    "感谢提醒",
    "谢谢通知",
    "thanks",
    "thank you",
    "thx",
    "with thanks",
    "many thanks",
    "thanks a lot",
)
FILLER_WORDS = ("了", "啦", "拉", "咯", "喽", "哟", "哈", "呀", "哦", "噢", "喔", "滴", "哒", "的", "啊")
ACK_EMOJI = ("👍", "👌", "🙏", "✅", "🆗", "✔", "☑", "🫡", "💪", "🤝", "🌹", "✊", "👏", "💐", "✌", "❤")
# WeChat's emoji codes, typed or pasted as text ("收到[强]"): the ones that acknowledge, as the
# emoji they show. Others ("[捂脸]", "[疑问]") stay words, so the message is kept.
WECHAT_CODES = {
    "强": "👍",
    "ok": "👌",
    "握手": "🤝",
    "玫瑰": "🌹",
    "抱拳": "🙏",
    "合十": "🙏",
    "拳头": "✊",
    "胜利": "✌",
    "爱心": "❤",
    "鼓掌": "👏",
    "加油": "💪",
}
WECHAT_CODE = re.compile(r"[\[［](" + "|".join(WECHAT_CODES) + r")[\]］]", re.IGNORECASE)

# After a name or unit only these count: "王芳明白" is ambiguous, "王芳收到" is not.
PREFIXABLE_WORDS = ("收到", "已收到", "收到了", "收悉", "已收悉", "知悉", "已知悉", "已阅")
PRONOUNS = ("我", "我们", "我也", "我们也", "我们都", "也", "都", "均", "已", "本人", "我方", "我处", "我单位")
UNIT_SUFFIXES = (
    "社区",
    "村",
    "街道",
    "居委会",
    "村委会",
    "网格",
    "小区",
    "组",
    "科",
    "办",
    "站",
    "所",
    "队",
    "中心",
    "委",
    "局",
    "部",
    "处",
    "室",
    "院",
    "校",
    "镇",
    "乡",
)
# Anything in a prefix that turns "…收到" into a statement of its own: not received, only
# partly, when, how often, how many, someone else, a question. Simplified and traditional.
PREFIX_BLOCKERS = (
    "没",
    "沒",
    "未",
    "不",
    "无",
    "無",
    "尚",
    "暂",
    "暫",
    "拒",
    "吗",
    "嗎",
    "否",
    "请",
    "請",
    "问",
    "問",
    "能",
    "怎",
    "什么",
    "甚麼",
    "哪",
    "谁",
    "誰",
    "为何",
    "為何",
    "如何",
    "为什么",
    "為什麼",
    "错",
    "錯",
    "问题",
    "麻烦",
    "帮",
    "要",
    "需",
    "该",
    "應",
    "应",
    "再",
    "重",
    "又",
    "还",
    "還",
    "说",
    "說",
    "讲",
    "講",
    "部分",
    "只",
    "才",
    "次",
    "份",
    "个",
    "個",
    "几",
    "幾",
    "两",
    "兩",
    "半",
    "多",
    "少",
    "缺",
    "差",
    "空",
    "乱",
    "亂",
    "破",
    "别",
    "別",
    "其他",
    "另",
    "退",
    "款",
    "费",
    "昨",
    "今",
    "明",
    "晚",
    "早",
    "天",
    "时",
    "時",
    "点",
    "點",
    "月",
    "年",
    "周",
    "延",
    "迟",
    "遲",
    "回复",
    "回覆",
    "回",
    "全",
    "大",
)
MAX_PREFIX = 12
# Longer texts are never ack-only; the cap also keeps the check cheap on long messages.
MAX_ACK_CHARS = 40
MAX_RAW_CHARS = 80
# Punctuation and spacing an ack may carry before normalisation, in both widths.
_ACK_PUNCTUATION = " \t\n\u3000.,!~…。，、！～：:;；·-—+＋()（）'\"‘’“”*＊^_"
# Trailing punctuation that changes nothing about an ack ("收到！", "OK.").
_TRAILING = " !！.。~～…"
_SHORT = 8
_INVISIBLES = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\ufe0e\ufe0f"
_CJK = re.compile(r"[\u3400-\u9fff]+")
# Numbers and symbols that carry meaning: "收到，11", "收到 ×", "退款 ¥200 收到".
_SUBSTANCE = re.compile(r"[02-9×÷%‰¥￥$€£#@&=<>±√°℃№§]")
_ONES = re.compile(r"\+?1+")
# Punctuation and runs of spaces become one space (emoji are kept: 👍 is content).
_SEPARATORS = re.compile(r"(?:[^\w\u2190-\u21ff\u2600-\u27bf\u2b00-\u2bff\U0001F000-\U0001FAFF]|_)+")
_CJK_GAP = re.compile(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])")
_REPEATS = re.compile(r"([^\d])\1+")
DIGITS_ONLY = "only the digit 1"


@dataclass(frozen=True)
class AckVerdict:
    """rule, hit, detail: whether the message only acknowledges, and why."""

    rule: str
    hit: bool
    detail: str
    strength: Strength | None = None
    # Read the sender's name ("王芳收到" from 王芳): the same text from someone else may differ.
    # Any other verdict follows from the text alone, so a caller may reuse it for every sender.
    by_name: bool = False


def ack_form(folded: str) -> str:
    """Punctuation dropped, spaces kept only between Latin words ("no ted" is not "noted")."""
    text = _SEPARATORS.sub(" ", folded).strip()
    if " " in text:
        text = _CJK_GAP.sub("", text)
    return _REPEATS.sub(r"\1", text)


class AckRule:
    """The ack recogniser, carrying its vocabulary (bot.toml may add words)."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        extra = tuple(form for word in extra_words if (form := ack_form(fold(word))))
        every_word = STRONG_WORDS + WEAK_WORDS + PLEDGE_WORDS + POLITE_WORDS + FILLER_WORDS + ACK_EMOJI + extra
        token = _trie(every_word)
        self._only_ack_words = re.compile(f"(?:{token})(?: ?(?:{token}))*")
        self._strong = re.compile(_trie(STRONG_WORDS + extra))
        # Politeness and fillers alone ("谢谢") acknowledge nothing.
        self._real_ack = re.compile(_trie(STRONG_WORDS + WEAK_WORDS + PLEDGE_WORDS + ACK_EMOJI + extra))
        self._prefixable = tuple(PREFIXABLE_WORDS)
        self._emoji = frozenset(ACK_EMOJI)
        self._alphabet = _alphabet(every_word)
        # The commonest acks arrive exactly as the vocabulary spells them ("收到", "1", 👍):
        # answered by one dictionary look-up.
        self._exact = {
            word: self._exact_verdict(word) for word in STRONG_WORDS + WEAK_WORDS + ACK_EMOJI + extra + ("1",)
        }

    def _exact_verdict(self, word: str) -> AckVerdict:
        if word == "1":
            return AckVerdict("ack_only", True, DIGITS_ONLY, Strength.WEAK)
        strength = self._strength_of(ack_form(fold(word)))
        return AckVerdict("ack_only", strength is not None, f"only ack words: {word}", strength)

    def judge(self, text: str, *, sender_name: str = "") -> AckVerdict:
        """Judge a text message; `sender_name` lets "王芳收到" and "收到-王芳" from 王芳 count."""
        if not text or len(text) > MAX_RAW_CHARS:
            return AckVerdict("ack_only", False, "empty or long text")
        exact = self._exact.get(text)
        if exact is None and len(text) <= _SHORT:
            exact = self._exact.get(text.rstrip(_TRAILING).lower())
        if exact is not None:
            # "收到！", "OK": the commonest acks, with their punctuation or capitals.
            return exact
        text = with_wechat_emoji(text)
        if not self._alphabet.fullmatch(text) and not any(word in text for word in PREFIXABLE_WORDS):
            # Cheap pre-check: a character no ack uses, and no "收到" a name could stand next to.
            return AckVerdict("ack_only", False, "has words that are not acks")
        folded = fold(text)
        if has_question_mark(folded):
            return AckVerdict("ack_only", False, "contains a question mark")
        form = ack_form(folded)
        if _ONES.fullmatch(form.replace(" ", "")):
            return AckVerdict("ack_only", True, DIGITS_ONLY, Strength.WEAK)
        if _SUBSTANCE.search(folded) or "1" in form:
            return AckVerdict("ack_only", False, "a number or symbol that means something")
        if not form or len(form) > MAX_ACK_CHARS:
            return AckVerdict("ack_only", False, "nothing left after normalising" if not form else "too long")
        strength = self._strength_of(form)
        if strength is not None:
            return AckVerdict("ack_only", True, f"only ack words: {form}", strength)
        return self._judge_named(form.replace(" ", ""), name_parts(sender_name))

    def judge_sticker(self, emoji: str | None) -> AckVerdict:
        """A sticker acknowledges when its emoji is an ack emoji (👍 👌 🙏 …)."""
        folded = ack_form(fold(emoji or "")).replace(" ", "")
        if folded and all(char in self._emoji for char in folded):
            return AckVerdict("ack_sticker", True, f"sticker {folded}", Strength.WEAK)
        return AckVerdict("ack_sticker", False, f"sticker {folded or 'without emoji'}")

    def _strength_of(self, form: str) -> Strength | None:
        """STRONG or WEAK when the text is only ack words with at least one real ack in it."""
        if not self._only_ack_words.fullmatch(form) or not self._real_ack.search(form):
            return None
        return Strength.STRONG if self._strong.search(form) else Strength.WEAK

    def _judge_named(self, form: str, sender: tuple[str, ...]) -> AckVerdict:
        """A name, unit or pronoun before a "收到" ('朝阳社区收到', '王芳收到' from 王芳, '我们已收到'),
        or the sender's own name or unit signed after an ack ('收到-王芳')."""
        match = _CJK.match(form)
        for cut in range(1, min(MAX_PREFIX, match.end() if match else 0) + 1):
            prefix, rest = form[:cut], form[cut:]
            if rest.startswith(self._prefixable) and self._strength_of(rest) is Strength.STRONG:
                if not _is_name_unit_or_pronoun(prefix, sender):
                    return AckVerdict(
                        "ack_only", False, f"prefix {prefix!r} is not the sender, a unit or a pronoun", by_name=True
                    )
                return AckVerdict("prefixed_ack", True, f"{prefix!r} then an ack", Strength.STRONG, by_name=True)
        if not any(part in form for part in sender):
            return AckVerdict("ack_only", False, "has words that are not acks", by_name=True)
        for cut in range(len(form) - 1, max(0, len(form) - MAX_PREFIX - 1), -1):
            rest, signature = form[:cut], form[cut:]
            if _is_signature(signature, sender) and self._strength_of(rest) is Strength.STRONG:
                return AckVerdict("signed_ack", True, f"an ack signed {signature!r}", Strength.STRONG, by_name=True)
        return AckVerdict("ack_only", False, "has words that are not acks", by_name=True)


def with_wechat_emoji(text: str) -> str:
    """WeChat's acknowledging codes ("[强]", "[握手]") as the emoji they stand for."""
    if "[" not in text and "［" not in text:
        return text
    return WECHAT_CODE.sub(lambda code: WECHAT_CODES[code.group(1).lower()], text)


@functools.lru_cache(maxsize=4096)
def name_parts(display_name: str) -> tuple[str, ...]:
    """The parts of a display name a person may write before or after an ack: "朝阳社区-王芳" gives
    the whole, "朝阳社区" and "王芳"; parts shorter than two characters say too little."""
    folded = fold(display_name)
    whole = ack_form(folded).replace(" ", "")
    parts = {whole, *re.split(r"[\W_]+", folded)}
    return tuple(sorted((part for part in parts if len(part) >= 2), key=len, reverse=True))


def _without_names(text: str, sender: tuple[str, ...]) -> str:
    for part in sender:
        text = text.replace(part, "")
    return text


def _is_name_unit_or_pronoun(prefix: str, sender: tuple[str, ...]) -> bool:
    if prefix in PRONOUNS:
        return True
    if len(prefix) >= 2 and any(prefix in part for part in sender):
        return True  # the sender's own name, or part of it ("晓燕收到" from 陈晓燕)
    rest = _without_names(prefix, sender)
    if rest != prefix:
        # The sender's name with a unit or pronoun ("朝阳社区王芳收到"); still refuse "王芳没".
        return not rest or (not _blocked(rest) and (rest in PRONOUNS or rest.endswith(UNIT_SUFFIXES)))
    return not _blocked(prefix) and prefix.endswith(UNIT_SUFFIXES)


def _is_signature(signature: str, sender: tuple[str, ...]) -> bool:
    """The sender's own name or unit after an ack ("收到-王芳", "收到（三网格王芳）")."""
    rest = _without_names(signature, sender)
    if rest == signature:
        return False  # a unit alone after an ack may be anything ("收到，已转发各网格")
    return not rest or (not _blocked(rest) and rest.endswith(UNIT_SUFFIXES) and _CJK.fullmatch(rest) is not None)


def _blocked(text: str) -> bool:
    return any(blocker in text for blocker in PREFIX_BLOCKERS)


def _trie(words: Iterable[str]) -> str:
    return trie_pattern({ack_form(fold(word)) for word in words if word})


def _alphabet(words: Iterable[str]) -> re.Pattern[str]:
    """Every character an ack-only message can consist of, in any width and case."""
    chars = set(_ACK_PUNCTUATION + _INVISIBLES + "1")
    for word in words:
        for char in word:
            chars.update({char, char.upper()})
            if "!" <= char <= "~":
                chars.update({chr(ord(char) + 0xFEE0), chr(ord(char.upper()) + 0xFEE0)})
    skin_tones = "\U0001f3fb-\U0001f3ff"
    return re.compile("[" + "".join(re.escape(char) for char in sorted(chars)) + skin_tones + "]+")
