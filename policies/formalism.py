"""Formalism demands beyond "reply received": check-ins, photo proof, promotion tasks, instant replies.

The 2024 national rules on reducing grassroots burden (and the 2026 rules on government mobile
apps) name these habits of work groups. Each rule finds such a demand made of members in one
sentence of a message: one of its terms ("打卡", "拍照发群", "转发朋友圈", "秒回"), what the
sentence needs around it (a group channel or a routine, a proof destination …), and an order
("请", "必须", "每人", an imperative). Precision comes first: a question ("怎么补卡"), a negation
("不用在群里签到"), a report ("照片已经发群里了"), a mention ("这种形式主义") or a request with
another purpose (a vote in a meeting, an ID photo, a notice forwarded to residents) is left alone.

A message about an emergency or security (应急、安保、防汛 …) is exempt from reminders, as an
urgent one is; the rules still name what they found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from policies.text import fold, has_question_mark, lowered, trie_pattern
from policies.verdict import Verdict


class Kind(StrEnum):
    CHECKIN = "checkin"
    PHOTO_PROOF = "photo_proof"
    PROMOTION = "promotion"
    INSTANT_REPLY = "instant_reply"


_SENTENCES = re.compile(r"[。！？!?；;\n]+|\.(?:\s|$)")
_CLAUSES = re.compile(r"[，,、：:]")
_VERBS = "拍|发|上传|截图|转发|关注|下载|注册|投票|点赞|打卡|签到|接龙|报|保持|扫码|动员|帮忙|刷|给"
# Members are told to do something: "请", "必须", "每人", "各网格员", "要拍照", an imperative.
ORDER = re.compile(
    r"请|務必|务必|必须|須|须|需要|都要|也要|也得|一定要|要求|做到|要有|统一|一律|每人|每位|每个|各位|全体|所有人|全员|"
    r"大家(?=要|务必|必须|都要|记得|一定|注意|尽快|抓紧|把|在|帮|给|动员)|"
    r"麻烦|烦请|帮忙|帮我|动员|发动|抓紧|尽快|记得|不得|不能|不许|不准|严禁|按时|准时|实行|制度|以后|"
    r"(?:即日|今天|明天|下周一?|本周|下月)起|(?:从|自)\S{1,6}(?:起|开始)|"
    rf"各[\u4e00-\u9fff]{{1,5}}?(?:员|长|人员|干部|同志|社区|村|单位|网格|小区|点位|科室)|要(?:{_VERBS}|在|先)|"
    rf"(?:马上|立即|立刻|及时|全程)(?:{_VERBS})|(?:^|[，,：:])\s*(?:{_VERBS})(?!的(?!时候)|结果|人数|情况|率|量|时间|箱|通道|链接|状态)|"
    r"please|\bpls\b|\bmust\b|everyone|all staff|\bfrom (?:tomorrow|today|now on|monday)\b|"
    r"\b(?:every|each|all) (?:grid|staff|member|worker)|"
    r"^\s*(?:upload|post|share|send|drop|check|sign|like|vote|follow|download|"
    r"register|repost|stay|be on|reply|answer)\b",
    re.IGNORECASE,
)
# Just before the term, in its clause: it says not to ("不用在群里签到", "取消打卡").
NEGATIONS = (
    "不用",
    "不要",
    "无需",
    "無需",
    "不必",
    "别",
    "勿",
    "取消",
    "不再",
    "停止",
    "免",
    "没必要",
    "不需要",
    "don't",
    "do not",
    "no need",
    "stop",
)
# Around it: it is talked about, not asked for ("这种形式主义", "打卡的要求").
MENTIONS = (
    "这种",
    "這種",
    "这类",
    "这样的",
    "的要求",
    "的做法",
    "的规定",
    "的事",
    "形式主义",
    "现象",
    "的状态",
    "那一套",
    "是哪个部门",
)
# A report of something done: "已拍照", "照片已经发群里了", "I have posted".
_DONE = re.compile(r"已|[拍发传]了|\bhave\b|\bhas\b|\bi've\b")
# Question words cadres ask with, often without a question mark ("是不是内容要改改").
_QUESTION_WORDS = re.compile(r"[吗嗎呢嘛]\s*$|吗，|是不是|要不要|能不能|可不可以|怎么|怎樣|怎样|为什么|为何")
# A sentence about oneself or someone else ("我24小时在线", "他随时待命的状态太累了").
_NOT_AN_ORDER = re.compile(r"^\s*(?:我(?!们)|他|她)")

_GROUP = r"(?:工作)?群(?!文件|众|主|体)|接龙|视频点名|\b(?:in|on) (?:this|the) group\b|\bgroup chat\b|\bhere\b"
_ROUTINE = (
    r"每天|每日|每晚|每早|早晚|天天|每(?:\d+|[一二两三四五六七八九十半])?个?(?:小时|钟头|分钟)|每周|一报|两次|"
    r"周末也|\bevery (?:day|morning|evening|hour)\b|\bdaily\b|\beach morning\b"
)


@dataclass(frozen=True)
class Found:
    """A term in a sentence, with the rest of its clause on either side."""

    sentence: str
    before: str
    after: str
    term: str


class FormalismRule:
    """One kind of formalism demand: its terms, and what a sentence needs around them to be one.

    `needs`: the sentence must also have this (a group channel, a routine, a proof destination);
    `other_purpose`: the sentence asks for something else (an ID photo, a vote in a meeting);
    `order`: how an order to members shows (None: the term is one by itself, "秒回").
    """

    def __init__(
        self,
        kind: Kind,
        *,
        terms: str,
        triggers: Iterable[str],
        needs: str | None = None,
        other_purpose: str | Callable[[str], bool] | None = None,
        order: re.Pattern[str] | None = ORDER,
    ) -> None:
        self.kind = kind
        self._terms = re.compile(terms, re.IGNORECASE)
        self.triggers = tuple(triggers)
        self._triggers = re.compile(trie_pattern(self.triggers))
        self._needs = re.compile(needs, re.IGNORECASE) if needs else None
        if isinstance(other_purpose, str):
            other_purpose = re.compile(other_purpose, re.IGNORECASE).search
        self._other_purpose = other_purpose
        self._order = order

    def judge(self, text: str) -> Verdict:
        text = lowered(text)
        return self.judge_sentences(text, sentences(text))

    def judge_sentences(self, text: str, split: list[str]) -> Verdict:
        """Judge a text already lowered and split into sentences (the four rules share the work)."""
        if self._triggers.search(text) is None:
            return Verdict(self.kind.value, False, "none of its words")
        for sentence in split:
            found = self._demand_in(sentence)
            if found is not None:
                where = found.sentence.strip()[:60]
                return Verdict(self.kind.value, True, f"asks members for it: {found.term!r} in {where!r}")
        return Verdict(self.kind.value, False, "its words, but no demand of members")

    def _demand_in(self, sentence: str) -> Found | None:
        # The term first: most sentences of a long notice have none, and it is the cheapest test.
        if self._terms.search(sentence) is None:
            return None
        if has_question_mark(sentence) or _QUESTION_WORDS.search(sentence) or _NOT_AN_ORDER.search(sentence):
            return None
        if self._needs is not None and all(_negated(_found(sentence, need)) for need in self._needs.finditer(sentence)):
            return None  # nothing it needs, or only negated ("不用发群里" is no destination)
        if self._other_purpose is not None and self._other_purpose(sentence):
            return None
        if self._order is not None and self._order.search(sentence) is None:
            return None
        for match in self._terms.finditer(sentence):
            found = _found(sentence, match)
            if not _negated(found) and not _mentioned(found) and not _reported(found):
                return found
        return None


def sentences(lowered: str) -> list[str]:
    return [sentence for sentence in _SENTENCES.split(lowered) if sentence.strip()]


def _found(sentence: str, match: re.Match[str]) -> Found:
    start = max((clause.end() for clause in _CLAUSES.finditer(sentence, 0, match.start())), default=0)
    end = next((clause.start() for clause in _CLAUSES.finditer(sentence, match.end())), len(sentence))
    return Found(sentence, sentence[start : match.start()], sentence[match.end() : end], match.group(0))


def _negated(found: Found) -> bool:
    return any(word in found.before for word in NEGATIONS)


def _mentioned(found: Found) -> bool:
    return any(word in found.after or word in found.before for word in MENTIONS)


def _reported(found: Found) -> bool:
    return _DONE.search(found.before) is not None or found.after.rstrip().endswith("了")


CHECKIN = FormalismRule(
    Kind.CHECKIN,
    terms=(
        r"打卡(?!点|地|机|记录|积分|软件)|打(?:一次|个|一下)卡|签到(?!表|处|簿|本|人数|二维码)|签退|报到(?!处|须知|时间|地点)|报个到|"
        r"报(?:一次|一下|个)?平安|报(?:一次)?岗|报.{0,3}在(?:村|岗|位)情况|"
        r"点名|(?:报告|汇报|上报|报送|报)(?:是否|一下)?在岗|在岗(?:情况|人数|人员|状态)|到岗|上岗|(?:报|说)一声|"
        r"\bchecks? in\b|\bcheck-in\b|\bchecking in\b|\bsigns? in\b|\broll call\b|\battendance\b|\bwhen you arrive\b"
    ),
    triggers=(
        "打卡",
        "打一次卡",
        "打个卡",
        "打一下卡",
        "签到",
        "签退",
        "报到",
        "报个到",
        "平安",
        "报岗",
        "报一次岗",
        "在岗",
        "到岗",
        "上岗",
        "在村",
        "在位",
        "点名",
        "报一声",
        "说一声",
        "check",
        "sign",
        "roll call",
        "attendance",
        "arrive",
    ),
    needs=f"{_GROUP}|{_ROUTINE}|上报",
    # A routine, or "在群里报到", is an order by itself ("值班人员每两小时在群里报一次岗").
    order=re.compile(f"{ORDER.pattern}|{_ROUTINE}|在(?:工作)?群(?:里|内)?(?:报|签|打|接龙|说|发)", re.IGNORECASE),
)

PHOTO_PROOF = FormalismRule(
    Kind.PHOTO_PROOF,
    terms=(
        r"拍照|照片|图片|发图|图文|影像|拍摄|拍[一张个段]+|合影|留影|截图|截屏|视频(?!会议|号|点名|连线|通话)|定位|位置共享|共享位置|水印|"
        r"(?:工作|在岗|打卡|对比|现场|活动|会场|前后|合)照|留痕|晒|"
        r"\bphotos?\b|\bpictures?\b|\bscreenshots?\b|\blive location\b"
    ),
    triggers=(
        "拍",
        "照片",
        "合照",
        "工作照",
        "在岗照",
        "打卡照",
        "对比照",
        "现场照",
        "活动照",
        "会场照",
        "前后照",
        "图片",
        "发图",
        "图文",
        "影像",
        "合影",
        "留影",
        "截图",
        "截屏",
        "视频",
        "定位",
        "位置",
        "水印",
        "留痕",
        "晒",
        "photo",
        "picture",
        "screenshot",
        "location",
    ),
    needs=(
        r"发(?:到|在|至|进)?(?:工作|本|该)?群|群里|群内|上传|留痕|佐证|为证|作为证明|以证明|证明已|备查|留档|留存|作为.{0,4}(?:依据|记录)|晒|"
        r"发群(?:里)?检查|供检查|发.{0,4}(?:现场|工作|活动|在岗)?(?:照片|图片|定位|视频|截图|位置)|"
        r"\bposts?\b|\bshares?\b|\buploads?\b|\bsends?\b"
    ),
    # Documents asked for as data, a photo that tells someone where to act, or a screenshot that
    # proves a promotion task (that is the promotion rule's: "转发朋友圈并截图").
    other_purpose=(
        r"身份证|证件|户口|营业执照|病历|发给我|发我|私发|私信|给我|交警|城管|物业|维修|"
        r"(?:朋友圈|转发|投票|点赞|集赞|关注|下载|注册|\bapp\b|moments|repost|share this).*(?:截图|截屏|screenshot)"
    ),
    order=re.compile(
        f"{ORDER.pattern}|{_ROUTINE}|"
        # "拍照发群", "照片发至本群", "在群里发一张照片": the chain is an instruction by itself.
        r"(?:拍照|拍摄|拍[一张个段]+).{0,4}(?:发|上传)|(?:照片|图片|视频|截图|定位|位置).{0,3}(?:发|上传)(?:到|至|在)?(?:工作|本)?群|"
        r"发.{0,4}(?:照片|图片|视频|截图|定位|位置).{0,2}(?:到|至)(?:工作|本)?群|在(?:工作|本)?群(?:里|内)?发",
        re.IGNORECASE,
    ),
)


def _not_promotion(sentence: str) -> bool:
    """A vote in a meeting, a notice forwarded to residents, or a like that only means "seen"."""
    return bool(_MEETING_OR_RESIDENTS.search(sentence)) or (
        bool(_LIKE_AS_READ.search(sentence)) and not _PROMOTED_THING.search(sentence)
    )


_MEETING_OR_RESIDENTS = re.compile(
    r"会上|会议|大会|表决|换届|选.{0,3}长|业主|业委会|选举|现场投票|投票箱|举手|居民群|业主群|网格群|小区群|楼长群|居民的意见|防诈骗提醒|注册率"
)
_LIKE_AS_READ = re.compile(
    r"(?:看到|收到|已阅|阅后|看完|读完|阅读后).{0,8}(?:点|回|发).{0,3}(?:赞|👍)|点.?赞.{0,3}(?:表示|以示)"
)
_PROMOTED_THING = re.compile(r"文章|视频|作品|推文|微博|公众号|抖音|直播|链接|朋友圈|评选|参赛")

PROMOTION = FormalismRule(
    Kind.PROMOTION,
    terms=(
        r"(?:转发|分享|发|晒|转)(?:到|至|在)?(?:个人)?朋友圈|朋友圈.{0,6}(?:转发|分享|集赞|点赞)|投.{0,2}票|\d+票|投一下|拉票|"
        r"点(?:个|一下|一个|点)?赞|集赞|助力|点.在看|在看|好评|播放量|阅读量|关注人数|扩散|订阅.{0,8}号|"
        r"(?:微博|视频|推文|文章|抖音|作品).{0,6}(?:转发|评论|点赞)|"
        r"关注.{0,10}(?:公众号|视频号|抖音|微博|号)|(?:公众号|视频号|抖音号?|微博).{0,6}关注|扫码关注|"
        r"下载.{0,12}(?:app|客户端|小程序|软件)|(?:app|小程序|平台).{0,8}注册|注册.{0,8}(?:app|小程序|平台)|并注册|安装.{0,10}(?:app|小程序)|"
        r"转发.{0,10}(?:亲友|好友|所有.{0,4}群|[三五十\d]+个.{0,3}群|家族群|亲友群|同学群|朋友圈|微博)|刷.{0,3}(?:播放|评论|点赞|量)|"
        r"\blike\b|\brepost\b|\bvote\b|\bfollow\b|\bdownload\b|\bmoments\b"
    ),
    triggers=(
        "朋友圈",
        "票",
        "投一下",
        "赞",
        "助力",
        "在看",
        "好评",
        "播放量",
        "阅读量",
        "刷量",
        "评论",
        "关注",
        "扩散",
        "订阅",
        "下载",
        "注册",
        "安装",
        "转发",
        "like",
        "repost",
        "vote",
        "follow",
        "download",
        "moments",
    ),
    other_purpose=_not_promotion,
)

INSTANT_REPLY = FormalismRule(
    Kind.INSTANT_REPLY,
    terms=(
        r"秒回|秒接|随时待命|随叫随到|全天候|全天在线|即看即回|看到就回|看到即回|消息不过夜|已读不回|手机不离身|手机.{0,4}开着|"
        r"(?:24|二十四|7×24|7x24)\s*小时.{0,4}(?:在线|待命|开机|畅通|值守)|随时(?:在线|回复|响应|关注|看群|回)|"
        r"保持在线(?!状态)|必须在线|不(?:得|能|许|准)关机|"
        r"(?:\d+|[一二两三五十半]+)分钟(?:之)?内.{0,6}(?:回复|响应|回|反馈)|"
        r"(?:[12一两半]|一个|两个|半个)小时(?:之)?内.{0,6}(?:回复|响应|回)|(?:超过|不过).{0,3}分钟不回|不(?:能|得)超过.{0,6}分钟|"
        r"当天必须回复|(?:下班|夜里|晚上|周末|节假日|休息时间).{0,10}(?:也要|都要|必须|也请|也得).{0,10}(?:回复|回|在线|看群)|"
        r"(?:必须|都要|要做到|一律)(?:马上|立即|立刻|第一时间|及时)回|(?:马上|立即|第一时间)回复.{0,4}不得|"
        r"(?:凡是|所有|以后).{0,14}(?:必须|都要|要)(?:马上|立即|立刻|第一时间|及时)(?:回复|回)|第一时间回复|"
        r"\bwithin \d+ minutes\b|\bstay online\b|\bon standby\b|\brespond immediately\b|\breply instantly\b|\b24/7\b"
    ),
    triggers=(
        "秒回",
        "秒接",
        "待命",
        "随叫随到",
        "全天",
        "即看即回",
        "就回",
        "即回",
        "开着",
        "不过夜",
        "已读不回",
        "不离身",
        "小时内",
        "小时之内",
        "小时在线",
        "小时待命",
        "小时开机",
        "小时畅通",
        "小时值守",
        "随时",
        "在线",
        "第一时间",
        "立即回",
        "马上回",
        "及时回",
        "分钟内",
        "分钟之内",
        "分钟不回",
        "超过",
        "立刻回",
        "关机",
        "开机",
        "畅通",
        "值守",
        "必须",
        "也要",
        "都要",
        "也请",
        "也得",
        "within",
        "online",
        "standby",
        "immediately",
        "instantly",
        "24/7",
    ),
    needs=r"回|响应|在线|待命|随叫随到|开机|畅通|值守|群|消息|\brespond\b|\breply\b|\banswer\b|\bonline\b|\bstandby\b",
    # Service standards owed to residents are not about members' availability.
    other_purpose=r"群众|居民|诉求|投诉|当事人|工单|客服|热线|工作日|便利店|救护车|系统",
    # A time limit or a sanction is an order by itself ("10分钟内回复", "没回复的按缺岗处理").
    order=re.compile(
        f"{ORDER.pattern}|分钟(?:之)?内|小时(?:之)?内|按.{{0,4}}处理|通报|扣分|要(?:24|二十四)|保持(?:手机)?(?:24|二十四)|手机保持",
        re.IGNORECASE,
    ),
)

RULES = (CHECKIN, PHOTO_PROOF, PROMOTION, INSTANT_REPLY)

# Emergencies and security: the regulation's exemption, like urgent matters.
EMERGENCY_WORDS = (
    "应急",
    "安保",
    "防汛",
    "汛期",
    "抗洪",
    "抢险",
    "台风",
    "暴雨",
    "地震",
    "疫情",
    "防疫",
    "森林防火",
    "火灾",
    "寒潮",
    "险情",
    "救灾",
    "灾情",
    "避险",
    "滑坡",
    "泥石流",
    "安置点",
    "巡堤",
    "汛",
    "内涝",
    "积水",
    "暴雪",
    "冰冻",
    "山火",
    "危化",
    "泄漏",
    "塌方",
    "突发",
    "救援",
    "转移安置",
    "疏散",
    "核酸",
    "封控",
    "隔离",
    "防控",
    "维稳",
    "执勤",
    "卡点",
    "emergency",
    "flood",
    "typhoon",
    "earthquake",
)


class EmergencyRule:
    """A message about an emergency or security work: its formalism demands are not reminded."""

    def __init__(self, words: Iterable[str] = EMERGENCY_WORDS) -> None:
        self._words = re.compile(trie_pattern(fold(word) for word in words))

    def judge(self, text: str) -> Verdict:
        found = self._words.search(fold(text)) if text else None
        if found is None:
            return Verdict("emergency", False, "no emergency or security topic")
        return Verdict("emergency", True, f"about an emergency or security: {found.group(0)!r}")


class FormalismRules:
    """The four rules; `judge` returns the verdicts that fired, cheaply when none can."""

    def __init__(self, rules: tuple[FormalismRule, ...] = RULES) -> None:
        self.rules = rules
        self.emergency = EmergencyRule()
        self._any_trigger = re.compile(trie_pattern({word for rule in rules for word in rule.triggers}))

    def judge(self, text: str) -> tuple[Verdict, ...]:
        if not text:
            return ()
        text = lowered(text)
        if self._any_trigger.search(text) is None:
            return ()
        split = sentences(text)
        return tuple(verdict for rule in self.rules if (verdict := rule.judge_sentences(text, split)).hit)


class Switch(StrEnum):
    """What a group does with one kind of formalism demand."""

    ON = "on"  # count it and remind the sender privately
    RECORD = "record"  # count it for the digest only
    OFF = "off"  # nothing


SWITCH_WORDS = {
    "on": Switch.ON,
    "开启": Switch.ON,
    "开": Switch.ON,
    "提醒": Switch.ON,
    "record": Switch.RECORD,
    "仅记录": Switch.RECORD,
    "记录": Switch.RECORD,
    "off": Switch.OFF,
    "关闭": Switch.OFF,
    "关": Switch.OFF,
}
ALL_KINDS = tuple(Kind)
# The names `/set` accepts for each rule, in both languages; "formalism" sets all four.
KIND_WORDS: dict[str, tuple[Kind, ...]] = {
    **dict.fromkeys(("checkin", "打卡", "签到", "报到"), (Kind.CHECKIN,)),
    **dict.fromkeys(("photo_proof", "photo", "拍照", "留痕"), (Kind.PHOTO_PROOF,)),
    **dict.fromkeys(("promotion", "推广", "转发", "点赞", "投票"), (Kind.PROMOTION,)),
    **dict.fromkeys(("instant_reply", "instant", "秒回"), (Kind.INSTANT_REPLY,)),
    **dict.fromkeys(("formalism", "形式主义"), ALL_KINDS),
}


def parse_setting(name: str, value: str) -> tuple[tuple[Kind, ...], Switch] | None:
    """`/set checkin off`, `/set 秒回 仅记录`, `/set formalism on`: the kinds and the switch, or None."""
    kinds, switch = KIND_WORDS.get(name.lower()), SWITCH_WORDS.get(value.lower())
    return (kinds, switch) if kinds and switch else None
