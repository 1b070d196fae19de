"""Deadlines in notices, in Chinese and English, read in the group's time zone.

"11月30日前", "12月5日17:00前", "本周五前", "下周一", "明天上午9:30", "月底前", "by Dec 3",
"next Monday", "within 3 days". A date without a time means the end of that day. Anything
that cannot be read is simply no deadline: a wrong deadline is worse than none.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

END_OF_DAY = time(23, 59)
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_WEEKDAYS_EN = {name: index for index, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
_WEEKDAYS_EN.update({name[:3]: index for name, index in list(_WEEKDAYS_EN.items())})
_MONTHS_EN = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_MONTHS_EN.update({name.lower(): index for index, name in enumerate(calendar.month_abbr) if name})
_CN_NUMBERS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}

# A clock time after a date: 17:00, 下午3点, 上午9:30, 3点半, 9am, 5:30 pm.
_TIME_ZH = r"(?:(?P<half>上午|早上|中午|下午|晚上)?\s*(?P<h>\d{1,2})(?:[:：](?P<m>\d{2})|点(?P<mm>半|\d{1,2}分?)?))?"
_TIME_EN = r"(?:\s*(?:at\s*)?(?P<eh>\d{1,2})(?::(?P<em>\d{2}))?\s*(?P<ap>am|pm)?)?"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"(?P<y>\d{{4}})\s*[-/.年]\s*(?P<mo>\d{{1,2}})\s*[-/.月]\s*(?P<d>\d{{1,2}})\s*[日号]?\s*{_TIME_ZH}"), "ymd"),
    (re.compile(rf"(?P<mo>\d{{1,2}})\s*月\s*(?P<d>\d{{1,2}})\s*[日号]\s*{_TIME_ZH}"), "md"),
    (re.compile(rf"(?P<which>本周|这周|下周|下星期|本星期|这星期|星期|周)(?P<wd>[一二三四五六日天1-7])\s*{_TIME_ZH}"), "weekday"),
    (re.compile(rf"(?P<rel>今天|今日|明天|明日|后天)\s*{_TIME_ZH}"), "relative_zh"),
    (re.compile(r"(?P<within>\d{1,3}|[一二两三四五六七八九十])\s*(?:个)?(?:工作)?(?:天|日)内"), "within_zh"),
    (re.compile(r"(?P<eom>本月底|月底|月末)"), "end_of_month"),
    (re.compile(rf"\bby\s+(?P<emo>[a-z]{{3,9}})\.?\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?\b{_TIME_EN}", re.IGNORECASE), "en_md"),
    (re.compile(rf"\bby\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<emo>[a-z]{{3,9}})\b{_TIME_EN}", re.IGNORECASE), "en_md"),
    (re.compile(rf"\b(?P<next>next|this|by)\s+(?P<ewd>monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)\b{_TIME_EN}", re.IGNORECASE), "en_weekday"),
    (re.compile(rf"\b(?P<erel>today|tonight|tomorrow)\b{_TIME_EN}", re.IGNORECASE), "en_relative"),
    (re.compile(r"\bwithin\s+(?P<ewithin>\d{1,3})\s+(?:working\s+)?days?\b", re.IGNORECASE), "within_en"),
]


def find_deadline(text: str, now: datetime) -> datetime | None:
    """The first deadline the text names, as an aware datetime in `now`'s time zone, or None."""
    best: tuple[int, datetime] | None = None
    for pattern, kind in _PATTERNS:
        for match in pattern.finditer(text):
            found = _READERS[kind](match, now)
            if found is not None and (best is None or match.start() < best[0]):
                best = (match.start(), found)
            break
    return best[1] if best else None


def _at(day: date, clock: time | None, now: datetime) -> datetime:
    return datetime.combine(day, clock or END_OF_DAY, tzinfo=now.tzinfo)


def _clock_zh(match: re.Match[str]) -> time | None:
    groups = match.groupdict()
    if groups.get("h") is None:
        return None
    hour = int(groups["h"])
    minutes = int(groups["m"]) if groups.get("m") else _minutes_zh(groups.get("mm"))
    if groups.get("half") in ("下午", "晚上") and hour < 12:
        hour += 12
    return time(hour, minutes) if hour < 24 and minutes < 60 else None


def _minutes_zh(value: str | None) -> int:
    if not value:
        return 0
    return 30 if value == "半" else int(value.rstrip("分"))


def _clock_en(match: re.Match[str]) -> time | None:
    groups = match.groupdict()
    if groups.get("eh") is None or (groups.get("em") is None and groups.get("ap") is None):
        return None  # a bare number is not a time ("by Dec 3 5" is nothing)
    hour, minutes = int(groups["eh"]), int(groups["em"] or 0)
    if (groups.get("ap") or "").lower() == "pm" and hour < 12:
        hour += 12
    return time(hour, minutes) if hour < 24 and minutes < 60 else None


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _upcoming(month: int, day: int, now: datetime) -> date | None:
    """This year's month/day, or next year's when it has passed (a notice looks ahead)."""
    found = _date_or_none(now.year, month, day)
    if found is not None and found < now.date() - timedelta(days=31):
        found = _date_or_none(now.year + 1, month, day)
    return found


def _ymd(match: re.Match[str], now: datetime) -> datetime | None:
    day = _date_or_none(int(match["y"]), int(match["mo"]), int(match["d"]))
    return _at(day, _clock_zh(match), now) if day else None


def _md(match: re.Match[str], now: datetime) -> datetime | None:
    day = _upcoming(int(match["mo"]), int(match["d"]), now)
    return _at(day, _clock_zh(match), now) if day else None


def _weekday(match: re.Match[str], now: datetime) -> datetime | None:
    target = _WEEKDAYS_ZH[match["wd"]]
    monday = now.date() - timedelta(days=now.weekday())
    if match["which"] in ("下周", "下星期"):
        monday += timedelta(days=7)
    day = monday + timedelta(days=target)
    if match["which"] in ("周", "星期") and day < now.date():
        day += timedelta(days=7)  # a bare "周一" on a Wednesday means the coming one
    return _at(day, _clock_zh(match), now)


def _relative_zh(match: re.Match[str], now: datetime) -> datetime:
    offset = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2}[match["rel"]]
    return _at(now.date() + timedelta(days=offset), _clock_zh(match), now)


def _within_zh(match: re.Match[str], now: datetime) -> datetime:
    value = match["within"]
    days = int(value) if value.isdigit() else _CN_NUMBERS[value]
    return _at(now.date() + timedelta(days=days), None, now)


def _end_of_month(match: re.Match[str], now: datetime) -> datetime:
    last = calendar.monthrange(now.year, now.month)[1]
    return _at(now.date().replace(day=last), None, now)


def _en_md(match: re.Match[str], now: datetime) -> datetime | None:
    month = _MONTHS_EN.get(match["emo"].lower().rstrip("."))
    day = _upcoming(month, int(match["ed"]), now) if month else None
    return _at(day, _clock_en(match), now) if day else None


def _en_weekday(match: re.Match[str], now: datetime) -> datetime:
    target = _WEEKDAYS_EN[match["ewd"].lower()]
    ahead = (target - now.weekday()) % 7
    if match["next"].lower() == "next" and ahead == 0:
        ahead = 7  # "next Monday" said on a Monday is a week away; on a Wednesday, the coming one
    return _at(now.date() + timedelta(days=ahead), _clock_en(match), now)


def _en_relative(match: re.Match[str], now: datetime) -> datetime:
    offset = 1 if match["erel"].lower() == "tomorrow" else 0
    return _at(now.date() + timedelta(days=offset), _clock_en(match), now)


def _within_en(match: re.Match[str], now: datetime) -> datetime:
    return _at(now.date() + timedelta(days=int(match["ewithin"])), None, now)


_READERS: dict[str, Callable[[re.Match[str], datetime], datetime | None]] = {
    "ymd": _ymd,
    "md": _md,
    "weekday": _weekday,
    "relative_zh": _relative_zh,
    "within_zh": _within_zh,
    "end_of_month": _end_of_month,
    "en_md": _en_md,
    "en_weekday": _en_weekday,
    "en_relative": _en_relative,
    "within_en": _within_en,
}
