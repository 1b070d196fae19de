"""Recognise notices: a notice tag (#通知), a notice header (【通知】, 通知：, Notice:), or /notice."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from policies.text import fold, has_fullwidth_alnum


class NoticeKind(StrEnum):
    NOTICE = "notice"
    MEETING = "meeting"
    DATA_REQUEST = "data_request"


DEFAULT_TAGS = ("#通知", "#公告", "#notice", "#announcement")
_HEADER = re.compile(
    r"^\s*(?:【[^】]{0,12}(?:通知|公告|通告|提醒)】|[\[［][^\]］]{0,12}(?:通知|公告)[\]］]"
    r"|(?:紧急)?(?:会议)?(?:通知|公告|通告)\s*[:：]|notice\s*:|announcement\s*:)",
    re.IGNORECASE,
)
_MEETING = re.compile(r"会议|开会|参会|例会|meeting", re.IGNORECASE)
_DATA_REQUEST = re.compile(
    r"填报|上报|报送|统计表|台账|表格|报表|汇总表|submit the form|fill in the form|spreadsheet", re.IGNORECASE
)


@dataclass(frozen=True)
class NoticeVerdict:
    rule: str
    hit: bool
    detail: str
    kind: NoticeKind | None = None


class NoticeRule:
    """Decides whether a message (or a document caption) is a notice, and of which kind."""

    def __init__(self, tags: Iterable[str] = DEFAULT_TAGS) -> None:
        self._tags = tuple(fold(tag) for tag in tags if tag)
        # A text without any tag's last character has no tag: no need to fold it.
        self._last_characters = frozenset(tag[-1] for tag in self._tags)

    def judge(self, text: str) -> NoticeVerdict:
        if not text:
            return NoticeVerdict("notice", False, "empty")
        # Full-width letters are the one case where a tag's last character shows only once folded.
        folded = text.lower()
        if has_fullwidth_alnum(text) or any(character in folded for character in self._last_characters):
            folded = fold(text)
        tag = next((tag for tag in self._tags if tag in folded), None)
        header = _HEADER.match(text)
        if tag is None and header is None:
            return NoticeVerdict("notice", False, "no notice tag or header")
        reason = f"tag {tag}" if tag else f"header {header.group(0).strip()!r}"
        return NoticeVerdict("notice", True, reason, self.kind_of(text))

    @staticmethod
    def kind_of(text: str) -> NoticeKind:
        """Data requests matter most to supervisors, so they win over meetings."""
        if _DATA_REQUEST.search(text):
            return NoticeKind.DATA_REQUEST
        if _MEETING.search(text):
            return NoticeKind.MEETING
        return NoticeKind.NOTICE
