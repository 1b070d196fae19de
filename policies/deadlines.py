"""Deadlines in notices, in Chinese and English, read in the group's time zone.

"11月30日前", "12月5日17:00前", "本周五前", "下周一", "明天下午四点前", "今晚八点前", "十点半前",
"两点前", "月底前", "by Dec 3", "next Monday", "within 3 days". Chinese numerals and spoken times
are read ("四点", "十点半", "三点一刻"); an hour without 上午/下午 is a working hour (1 to 6
means the afternoon). A date without a time means the end of that day; a time without a date
is a deadline only when 前 or 截止 follows it, and means its next occurrence. A meeting or event
time ("周五上午九点在社区活动室集中") is not a deadline. Anything that cannot be read is simply no
deadline: a wrong deadline is worse than none.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

END_OF_DAY = time(23, 59)
_WEEKDAYS_ZH = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_WEEKDAYS_EN = {
    name: index
    for index, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
_WEEKDAYS_EN.update({name[:3]: index for name, index in list(_WEEKDAYS_EN.items())})
_MONTHS_EN = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_MONTHS_EN.update({name.lower(): index for index, name in enumerate(calendar.month_abbr) if name})
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUMBER = "[零〇一二两三四五六七八九十]{1,3}"

# A clock time: 17:00, 下午3点, 上午9:30, 3点半, 四点, 十点半, 三点一刻, 9am, 5:30 pm.
_HALF_DAY = r"(?P<half>上午|早上|早晨|凌晨|中午|下午|傍晚|晚上)"
_CLOCK_ZH = (
    rf"{_HALF_DAY}?\s*(?P<h>\d{{1,2}}|{_CN_NUMBER})"
    rf"(?:[:：](?P<m>\d{{2}})|[点點时時]钟?(?P<mm>半|一刻|三刻|\d{{1,2}}分?|{_CN_NUMBER}分?)?)"
)
_TIME_ZH = f"(?:{_CLOCK_ZH})?"
_TIME_EN = r"(?:\s*(?:at\s*)?(?P<eh>\d{1,2})(?::(?P<em>\d{2}))?\s*(?P<ap>am|pm)?)?"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            rf"(?P<y>\d{{4}})\s*[-/.年]\s*(?P<mo>\d{{1,2}})\s*[-/.月]\s*(?P<d>\d{{1,2}})\s*[日号]?\s*{_TIME_ZH}"
        ),
        "ymd",
    ),
    (re.compile(rf"(?P<mo>\d{{1,2}})\s*月\s*(?P<d>\d{{1,2}})\s*[日号]\s*{_TIME_ZH}"), "md"),
    (
        re.compile(
            rf"(?P<which>本周|这周|下周|下星期|本星期|这星期|星期|周)(?P<wd>[一二三四五六日天1-7])\s*{_TIME_ZH}"
        ),
        "weekday",
    ),
    (re.compile(rf"(?P<rel>今天|今日|明天|明日|后天|今晚|今早|明早|明晚)\s*{_TIME_ZH}"), "relative_zh"),
    # A time alone, when 前 or 截止 follows it ("十点半前"); not a number inside a date or "早一点".
    (
        re.compile(rf"(?<![\d月日号周期天早晚快慢多少有差提])(?<!星期){_CLOCK_ZH}(?=\s*(?:之前|以前|前|截止))"),
        "clock_zh",
    ),
    (re.compile(r"(?P<within>\d{1,3}|[一二两三四五六七八九十])\s*(?:个)?(?:工作)?(?:天|日)内"), "within_zh"),
    (re.compile(r"(?P<eom>本月底|月底|月末)"), "end_of_month"),
    (
        re.compile(rf"\bby\s+(?P<emo>[a-z]{{3,9}})\.?\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?\b{_TIME_EN}", re.IGNORECASE),
        "en_md",
    ),
    (
        re.compile(rf"\bby\s+(?P<ed>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<emo>[a-z]{{3,9}})\b{_TIME_EN}", re.IGNORECASE),
        "en_md",
    ),
    (
        re.compile(
            rf"\b(?P<next>next|this|by)\s+(?P<ewd>monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)\b{_TIME_EN}",
            re.IGNORECASE,
        ),
        "en_weekday",
    ),
    (re.compile(rf"\b(?P<erel>today|tonight|tomorrow)\b{_TIME_EN}", re.IGNORECASE), "en_relative"),
    (re.compile(r"\bwithin\s+(?P<ewithin>\d{1,3})\s+(?:working\s+)?days?\b", re.IGNORECASE), "within_en"),
]

# Words a text must hold for a pattern to match: each pattern's own literals (the English ones all
# start with one of these words, read with the same IGNORECASE folding). Most notices name no
# deadline in most of these ways, and a substring test is far cheaper than a scan with look-behinds.
_NEEDED_WORDS: dict[str, tuple[str, ...]] = {
    "md": ("月",),
    "weekday": ("周", "星期"),
    "relative_zh": ("今", "明", "后天"),
    "clock_zh": ("前", "截止"),
    "within_zh": ("内",),
    "end_of_month": ("月底", "月末"),
}
_ENGLISH_KINDS = frozenset({"en_md", "en_weekday", "en_relative", "within_en"})
_ENGLISH_WORDS = re.compile(r"\b(?:by|next|this|today|tonight|tomorrow|within)", re.IGNORECASE)

_CLAUSE_END = re.compile(r"[，,。！？!?；;\n]|\.(?:\s|$)")
# Right after the date: it is a deadline ("12月5日前", "周五之前", "截止").
_DEADLINE_AFTER = re.compile(
    r"\s*(?:[(（][^)）]{0,6}[)）])?\s*(?:之前|以前|前(?!往|来|去)|截止|为止|止|以内|内|\bbefore\b|\bdue\b)",
    re.IGNORECASE,
)
# Earlier in the clause: the date is when something must be done by ("截止时间：12月5日", "by").
_DEADLINE_BEFORE = re.compile(r"截止|截至|期限|最迟|最晚|不晚于|\bby\b|\bdue\b|\bdeadline\b|\bbefore\b", re.IGNORECASE)
# Elsewhere in the clause: the date is when something happens, not a deadline.
_EVENT = re.compile(
    r"开会|召开|举行|举办|集中|集合|出发|参加|参会|开展|会议|培训|讲座|活动|检查|验收|考试|体检|演练|座谈|上课|见面|碰头|"
    r"报到|乘车|议事会|\bmeeting\b|\btraining\b|\bsession\b|\bgather\b|\bassemble\b|\bworkshop\b",
    re.IGNORECASE,
)


def find_deadline(text: str, now: datetime) -> datetime | None:
    """The first deadline the text names, as an aware datetime in `now`'s time zone, or None."""
    best: tuple[int, datetime] | None = None
    english = _ENGLISH_WORDS.search(text) is not None
    for pattern, kind in _PATTERNS:
        if not _may_match(kind, text, english):
            continue  # the text lacks a word the pattern needs: the scan would find nothing
        for match in pattern.finditer(text):
            if best is not None and match.start() >= best[0]:
                break
            found = _READERS[kind](match, now) if _is_deadline(text, match) else None
            if found is not None:
                best = (match.start(), found)
                break
    return best[1] if best else None


def _may_match(kind: str, text: str, english: bool) -> bool:
    """False when the text lacks a word the kind's pattern needs (see _NEEDED_WORDS)."""
    if kind in _ENGLISH_KINDS:
        return english
    needed = _NEEDED_WORDS.get(kind)
    return needed is None or any(word in text for word in needed)


def _is_deadline(text: str, match: re.Match[str]) -> bool:
    """A deadline, unless its clause says something happens then ("周五上午九点在活动室集中")."""
    clause_start = max((end.end() for end in _CLAUSE_END.finditer(text, 0, match.start())), default=0)
    following = _CLAUSE_END.search(text, match.end())
    after = text[match.end() : following.start() if following else len(text)]
    if match.group(0).lower().startswith("by") or _DEADLINE_AFTER.match(after):
        return True
    if _DEADLINE_BEFORE.search(text, clause_start, match.start()):
        return True
    return _EVENT.search(text[clause_start : match.start()] + after) is None


def _at(day: date, clock: time | None, now: datetime) -> datetime:
    return datetime.combine(day, clock or END_OF_DAY, tzinfo=now.tzinfo)


def _number(value: str) -> int:
    """12, "十二", "二十五", "两", "零五" -> an int (0 to 99)."""
    if value.isdigit():
        return int(value)
    value = value.lstrip("零〇") or "零"
    if "十" not in value:
        return _CN_DIGITS[value[-1]] + 10 * (_CN_DIGITS[value[0]] if len(value) > 1 else 0)
    tens, _, ones = value.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _clock_zh(match: re.Match[str], implied_half: str | None = None) -> time | None:
    groups = match.groupdict()
    if groups.get("h") is None:
        return None
    hour = _number(groups["h"])
    minutes = int(groups["m"]) if groups.get("m") else _minutes_zh(groups.get("mm"))
    hour = _working_hour(hour, groups.get("half") or implied_half)
    return time(hour, minutes) if hour is not None and hour < 24 and minutes < 60 else None


def _working_hour(hour: int, half: str | None) -> int | None:
    """The 24-hour clock of a spoken hour: 下午3点 is 15:00, a bare 两点 in a work notice is 14:00."""
    if half in ("下午", "傍晚", "晚上") and hour < 12:
        return hour + 12
    if half == "中午":
        return hour + 12 if 1 <= hour <= 4 else hour
    if half in ("上午", "早上", "早晨", "凌晨"):
        return hour if hour <= 12 else None
    return hour + 12 if 1 <= hour <= 6 else hour


def _minutes_zh(value: str | None) -> int:
    if not value:
        return 0
    spoken = {"半": 30, "一刻": 15, "三刻": 45}
    return spoken[value] if value in spoken else _number(value.rstrip("分"))


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


def _weekday(match: re.Match[str], now: datetime) -> datetime:
    target = _WEEKDAYS_ZH[match["wd"]]
    monday = now.date() - timedelta(days=now.weekday())
    if match["which"] in ("下周", "下星期"):
        monday += timedelta(days=7)
    day = monday + timedelta(days=target)
    if match["which"] in ("周", "星期") and day < now.date():
        day += timedelta(days=7)  # a bare "周一" on a Wednesday means the coming one
    return _at(day, _clock_zh(match), now)


_RELATIVE_DAYS = {"今天": 0, "今日": 0, "今晚": 0, "今早": 0, "明天": 1, "明日": 1, "明早": 1, "明晚": 1, "后天": 2}
# "今晚八点" is 20:00, "明早八点" 08:00.
_RELATIVE_HALF = {"今晚": "晚上", "明晚": "晚上", "今早": "早上", "明早": "早上"}


def _relative_zh(match: re.Match[str], now: datetime) -> datetime:
    day = now.date() + timedelta(days=_RELATIVE_DAYS[match["rel"]])
    return _at(day, _clock_zh(match, _RELATIVE_HALF.get(match["rel"])), now)


def _clock_only(match: re.Match[str], now: datetime) -> datetime | None:
    """ "十点半前", "两点前": that time today, or tomorrow when it has passed."""
    clock = _clock_zh(match)
    if clock is None:
        return None
    found = _at(now.date(), clock, now)
    return found if found > now else found + timedelta(days=1)


def _within_zh(match: re.Match[str], now: datetime) -> datetime:
    value = match["within"]
    return _at(now.date() + timedelta(days=_number(value)), None, now)


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
    "clock_zh": _clock_only,
    "within_zh": _within_zh,
    "end_of_month": _end_of_month,
    "en_md": _en_md,
    "en_weekday": _en_weekday,
    "en_relative": _en_relative,
    "within_en": _within_en,
}
