"""Recognise messages that only acknowledge ("收到", "1", 👍): precision first.

A message is an ack only when, after normalisation, every part of it is ack vocabulary,
optionally after the sender's own name, a unit ("朝阳社区") or a pronoun. Any other word, any
number or symbol that means something, any question mark, makes it a real message and it is
kept: deleting a real message is the worst failure, so anything unsure is not an ack.
"""

from __future__ import annotations

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
    "收到", "已收到", "收到了", "收悉", "已收悉", "知悉", "已知悉", "知道了", "已阅", "已阅读", "已读",
    "明白", "已明白", "明白了", "了解", "已了解", "了解了", "遵照执行", "照办",
    "received", "well received", "noted", "well noted", "got it", "i got it", "roger", "roger that",
    "copy", "copy that", "acknowledged", "ack", "understood",
)
WEAK_WORDS = ("好的", "好", "好嘞", "好滴", "嗯", "嗯嗯", "ok", "okay")
POLITE_WORDS = (
    "谢谢", "感谢", "多谢", "谢", "辛苦了", "辛苦", "谢谢领导", "领导", "老师", "主任", "书记",
    "thanks", "thank you", "thx", "with thanks", "many thanks", "thanks a lot",
)
FILLER_WORDS = ("了", "啦", "哈", "呀", "哦", "噢", "喔", "滴", "哒", "的", "啊")
ACK_EMOJI = ("👍", "👌", "🙏", "✅", "🆗", "✔", "☑", "🫡", "💪", "🤝", "🌹", "✊", "👏", "💐")

# After a name or unit only these count: "王芳明白" is ambiguous, "王芳收到" is not.
PREFIXABLE_WORDS = ("收到", "已收到", "收到了", "收悉", "已收悉", "知悉", "已知悉", "已阅")
PRONOUNS = ("我", "我们", "我也", "我们也", "我们都", "也", "都", "均", "已", "本人", "我方", "我处", "我单位")
UNIT_SUFFIXES = (
    "社区", "村", "街道", "居委会", "村委会", "网格", "小区", "组", "科", "办", "站", "所", "队",
    "中心", "委", "局", "部", "处", "室", "院", "校", "镇", "乡",
)
# Anything in a prefix that turns "…收到" into a statement of its own: not received, only
# partly, when, how often, how many, someone else, a question. Simplified and traditional.
PREFIX_BLOCKERS = (
    "没", "沒", "未", "不", "无", "無", "尚", "暂", "暫", "拒", "吗", "嗎", "否", "请", "請", "问", "問",
    "能", "怎", "什么", "甚麼", "哪", "谁", "誰", "为何", "為何", "如何", "为什么", "為什麼", "错", "錯",
    "问题", "麻烦", "帮", "要", "需", "该", "應", "应", "再", "重", "又", "还", "還", "说", "說", "讲", "講",
    "部分", "只", "才", "次", "份", "个", "個", "几", "幾", "两", "兩", "半", "多", "少", "缺", "差", "空",
    "乱", "亂", "破", "别", "別", "其他", "另", "退", "款", "费", "昨", "今", "明", "晚", "早", "天",
    "时", "時", "点", "點", "月", "年", "周", "延", "迟", "遲", "回复", "回覆", "回", "全", "大",
)
MAX_PREFIX = 12
# Longer texts are never ack-only; the cap also keeps the check cheap on long messages.
MAX_ACK_CHARS = 40
MAX_RAW_CHARS = 80
# Punctuation and spacing an ack may carry before normalisation, in both widths.
_ACK_PUNCTUATION = " \t\n\u3000.,!~…。，、！～：:;；·-—+＋()（）'\"‘’“”*＊^_"
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
        every_word = STRONG_WORDS + WEAK_WORDS + POLITE_WORDS + FILLER_WORDS + ACK_EMOJI + extra
        token = _trie(every_word)
        self._only_ack_words = re.compile(f"(?:{token})(?: ?(?:{token}))*")
        self._strong = re.compile(_trie(STRONG_WORDS + extra))
        # Politeness and fillers alone ("谢谢") acknowledge nothing.
        self._real_ack = re.compile(_trie(STRONG_WORDS + WEAK_WORDS + ACK_EMOJI + extra))
        self._prefixable = tuple(PREFIXABLE_WORDS)
        self._emoji = frozenset(ACK_EMOJI)
        self._alphabet = _alphabet(every_word)
        # The commonest acks arrive exactly as the vocabulary spells them ("收到", "1", 👍):
        # answered by one dictionary look-up.
        self._exact = {word: self._exact_verdict(word) for word in STRONG_WORDS + WEAK_WORDS + ACK_EMOJI + extra + ("1",)}

    def _exact_verdict(self, word: str) -> AckVerdict:
        if word == "1":
            return AckVerdict("ack_only", True, DIGITS_ONLY, Strength.WEAK)
        strength = self._strength_of(ack_form(fold(word)))
        return AckVerdict("ack_only", strength is not None, f"only ack words: {word}", strength)

    def judge(self, text: str, *, sender_name: str = "") -> AckVerdict:
        """Judge a text message; `sender_name` lets "王芳收到" from 王芳 count."""
        if not text or len(text) > MAX_RAW_CHARS:
            return AckVerdict("ack_only", False, "empty or long text")
        exact = self._exact.get(text)
        if exact is not None:
            return exact
        if not self._alphabet.fullmatch(text) and not any(word in text for word in PREFIXABLE_WORDS):
            # Cheap pre-check: a character no ack uses, and no "…收到" ending a name could precede.
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
        return self._judge_prefixed(form, ack_form(fold(sender_name)).replace(" ", ""))

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

    def _judge_prefixed(self, form: str, sender: str) -> AckVerdict:
        """'朝阳社区收到', '王芳收到' (from 王芳), '我们已收到': a name, unit or pronoun, then an ack."""
        match = _CJK.match(form)
        if match is None:
            return AckVerdict("ack_only", False, "has words that are not acks")
        for cut in range(1, min(MAX_PREFIX, match.end()) + 1):
            prefix, rest = form[:cut], form[cut:]
            if rest.startswith(self._prefixable) and self._strength_of(rest) is Strength.STRONG:
                if not _is_name_unit_or_pronoun(prefix, sender):
                    return AckVerdict("ack_only", False, f"prefix {prefix!r} is not the sender, a unit or a pronoun")
                return AckVerdict("prefixed_ack", True, f"{prefix!r} then an ack", Strength.STRONG)
        return AckVerdict("ack_only", False, "has words that are not acks")


def _is_name_unit_or_pronoun(prefix: str, sender: str) -> bool:
    if prefix in PRONOUNS:
        return True
    if len(prefix) >= 2 and sender and (prefix in sender or sender in prefix):
        # The sender's own name (or part of it): still refuse "王芳没" style additions.
        return not any(blocker in prefix.replace(sender, "") for blocker in PREFIX_BLOCKERS)
    if any(blocker in prefix for blocker in PREFIX_BLOCKERS):
        return False
    return prefix.endswith(UNIT_SUFFIXES)


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
    skin_tones = "\U0001F3FB-\U0001F3FF"
    return re.compile("[" + "".join(re.escape(char) for char in sorted(chars)) + skin_tones + "]+")
