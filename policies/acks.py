"""Recognise messages that only acknowledge ("收到", "1", 👍): precision first.

A message is an ack only when, after normalisation, every part of it is ack vocabulary
(optionally after a short name or unit prefix). Any other word, any digit other than "1",
any question mark, makes it a real message and it is kept: deleting a real message is the
worst failure, so anything unsure is not an ack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from policies.text import fold, has_question_mark, normalize, squeeze, trie_pattern


class Strength(StrEnum):
    # "收到", "已阅", "received": an ack whatever it answers.
    STRONG = "strong"
    # "好的", "1", 👍: also a plausible answer to a question, so never deleted under one.
    WEAK = "weak"


STRONG_WORDS = (
    "收到", "已收到", "收到了", "收悉", "已收悉", "知悉", "已知悉", "知道了", "已阅", "已阅读",
    "明白", "已明白", "明白了", "了解", "已了解", "了解了", "遵照执行", "照办",
    "received", "wellreceived", "noted", "gotit", "roger", "rogerthat", "copy", "copythat",
    "acknowledged", "ack",
)
WEAK_WORDS = ("好的", "好", "好嘞", "好滴", "嗯", "嗯嗯", "ok", "okay", "1", "是", "是的")
POLITE_WORDS = (
    "谢谢", "感谢", "多谢", "谢", "辛苦了", "辛苦", "thanks", "thankyou", "thx", "withthanks", "many",
)
FILLER_WORDS = ("了", "啦", "哈", "呀", "哦", "噢", "喔", "滴", "哒", "的", "啊")
ACK_EMOJI = ("👍", "👌", "🙏", "✅", "🆗", "✔", "☑", "🫡", "💪", "🤝")

# After a name or unit only these count: "王芳明白" is an ack, but "说明白" is not.
PREFIXABLE_WORDS = ("收到", "已收到", "收到了", "收悉", "已收悉", "知悉", "已知悉", "已阅")
# Words in a prefix that turn "…收到" into a statement about not receiving, or a question.
PREFIX_BLOCKERS = (
    "没", "未", "不", "吗", "否", "请", "能", "怎", "什么", "哪", "谁", "为何", "如何", "无法",
    "错", "问题", "麻烦", "帮", "要", "需", "该", "应", "再", "重", "又", "还", "说", "讲",
)
PRONOUNS = ("我", "我们", "我也", "我们也", "也", "都", "均", "已", "本人", "我方", "我处", "我单位")
UNIT_SUFFIXES = (
    "社区", "村", "街道", "居委会", "村委会", "网格", "小区", "组", "科", "办", "站", "所", "队",
    "中心", "委", "局", "部", "处", "室", "院", "校", "镇", "乡",
)
NAME_LENGTHS = range(2, 5)
MAX_PREFIX = 12
# Longer texts are never ack-only; the cap also keeps the check cheap on long messages.
MAX_ACK_CHARS = 40
MAX_RAW_CHARS = 80
# Punctuation and spacing an ack may carry before normalisation, in both widths.
_ACK_PUNCTUATION = " \t\n.,!~…。，、！～：:;；·-—+＋()（）'\"‘’“”*＊^_"
_INVISIBLES = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\ufe0e\ufe0f"
_CJK = re.compile(r"[\u3400-\u9fff]+")


@dataclass(frozen=True)
class AckVerdict:
    """rule, hit, detail: whether the message only acknowledges, and why."""

    rule: str
    hit: bool
    detail: str
    strength: Strength | None = None


class AckRule:
    """The ack recogniser, carrying its vocabulary (bot.toml may add words)."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        extra = tuple(normalize(word) for word in extra_words if normalize(word))
        every_word = STRONG_WORDS + WEAK_WORDS + POLITE_WORDS + FILLER_WORDS + ACK_EMOJI + extra
        self._only_ack_words = re.compile(f"(?:{_trie(every_word)})+")
        self._strong = re.compile(_trie(STRONG_WORDS + extra))
        # Politeness and fillers alone ("谢谢") acknowledge nothing.
        self._real_ack = re.compile(_trie(STRONG_WORDS + WEAK_WORDS + ACK_EMOJI + extra))
        self._prefixable = tuple(squeeze(word) for word in PREFIXABLE_WORDS)
        self._emoji = frozenset(ACK_EMOJI)
        self._alphabet = _alphabet(STRONG_WORDS + WEAK_WORDS + POLITE_WORDS + FILLER_WORDS + ACK_EMOJI + extra)

    def judge(self, text: str) -> AckVerdict:
        """Judge a text message (or a caption)."""
        if not text or len(text) > MAX_RAW_CHARS:
            return AckVerdict("ack_only", False, "empty or long text")
        if not self._alphabet.fullmatch(text) and not any(word in text for word in PREFIXABLE_WORDS):
            # Cheap pre-check: a character no ack uses, and no "…收到" ending a name could precede.
            return AckVerdict("ack_only", False, "has words that are not acks")
        if has_question_mark(text):
            return AckVerdict("ack_only", False, "contains a question mark")
        folded = squeeze(fold(text))
        if not folded or len(folded) > MAX_ACK_CHARS:
            return AckVerdict("ack_only", False, "nothing left after normalising" if not folded else "too long")
        strength = self._strength_of(folded)
        if strength is not None:
            return AckVerdict("ack_only", True, f"only ack words: {folded}", strength)
        return self._judge_prefixed(folded)

    def _strength_of(self, folded: str) -> Strength | None:
        """STRONG or WEAK when the text is only ack words with at least one real ack in it."""
        if not self._only_ack_words.fullmatch(folded) or not self._real_ack.search(folded):
            return None
        return Strength.STRONG if self._strong.search(folded) else Strength.WEAK

    def judge_sticker(self, emoji: str | None) -> AckVerdict:
        """A sticker acknowledges when its emoji is an ack emoji (👍 👌 🙏 …)."""
        folded = squeeze(fold(emoji or ""))
        if folded and all(char in self._emoji for char in folded):
            return AckVerdict("ack_sticker", True, f"sticker {folded}", Strength.WEAK)
        return AckVerdict("ack_sticker", False, f"sticker {folded or 'without emoji'}")

    def _judge_prefixed(self, folded: str) -> AckVerdict:
        """'朝阳社区收到', '王芳收到': a short name or unit, then a strong ack, nothing else."""
        match = _CJK.match(folded)
        if match is None:
            return AckVerdict("ack_only", False, "has words that are not acks")
        for cut in range(1, min(MAX_PREFIX, match.end()) + 1):
            prefix, rest = folded[:cut], folded[cut:]
            if rest.startswith(self._prefixable) and self._strength_of(rest) is Strength.STRONG:
                if not _is_name_or_unit(prefix):
                    return AckVerdict("ack_only", False, f"prefix {prefix!r} is not a name or unit")
                return AckVerdict("prefixed_ack", True, f"name or unit {prefix!r} then an ack", Strength.STRONG)
        return AckVerdict("ack_only", False, "has words that are not acks")


def _trie(words: Iterable[str]) -> str:
    return trie_pattern({squeeze(word) for word in words if word})


def _alphabet(words: Iterable[str]) -> re.Pattern[str]:
    """Every character an ack-only message can consist of, in any width and case."""
    chars = set(_ACK_PUNCTUATION + _INVISIBLES)
    for word in words:
        for char in word:
            chars.update({char, char.upper()})
            if "!" <= char <= "~":
                chars.update({chr(ord(char) + 0xFEE0), chr(ord(char.upper()) + 0xFEE0)})
    skin_tones = "\U0001F3FB-\U0001F3FF"
    return re.compile("[" + "".join(re.escape(char) for char in sorted(chars)) + skin_tones + "]+")


def _is_name_or_unit(prefix: str) -> bool:
    if any(blocker in prefix for blocker in PREFIX_BLOCKERS):
        return False
    return prefix in PRONOUNS or len(prefix) in NAME_LENGTHS or prefix.endswith(UNIT_SUFFIXES)
