"""Large tables for the "received" rule's recognisers, in both languages, plus property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.acks import AckRule, Strength
from policies.demands import DemandRule, UrgencyRule
from policies.notices import NoticeKind, NoticeRule

ACKS = AckRule()
DEMANDS = DemandRule()
URGENCY = UrgencyRule()
NOTICES = NoticeRule()

STRONG_ACKS = [
    "收到",
    "收到！",
    "收到!!!",
    "收到。",
    "收到～",
    "已收到",
    "收到了",
    "好的收到",
    "好的，收到",
    "收到，谢谢",
    "收到谢谢！",
    "收到👍",
    "收到🙏",
    "收到收到",
    "收到 收到",
    "收悉",
    "知悉",
    "已知悉",
    "已阅",
    "明白",
    "明白了",
    "了解",
    "好的明白",
    "嗯嗯收到",
    "收到啦",
    "收到哈",
    "OK收到",
    "收到ok",
    "Ｏｋ，收到",
    "收\u200b到",
    "收 到",
    "朝阳社区收到",
    "第三网格收到",
    "朝阳社区第三网格收到",
    "我收到了",
    "我也收到了",
    "我们已收到",
    "街道办已收悉",
    "收　到",
    "已读",
    "收到，谢谢领导",
    "收到，领导",
    "I got it",
    "Well noted",
    "Understood",
    "收到🌹",
    "收到✊",
    "received",
    "Received.",
    "Received, thanks!",
    "noted",
    "Noted with thanks",
    "got it",
    "Got it 👍",
    "roger",
    "Roger that",
    "copy that",
    "acknowledged",
    "well received",
    "遵照执行",
    "收到，辛苦了",
    # Pledges with nothing of their own, WeChat emoji codes, typos and traditional characters.
    "收到，马上安排",
    "收到，保证完成任务！",
    "明白，立即执行",
    "收到[握手]",
    "收到[强][强]",
    "已閱",
    "收到拉",
    "收到，谢谢提醒",
    "Received, will handle",
]
WEAK_ACKS = [
    "1",
    "111",
    "1111",
    "+1",
    "1 1 1",
    "OK",
    "ok",
    "okk",
    "okay",
    "好的",
    "好",
    "好嘞",
    "嗯",
    "嗯嗯",
    "👍",
    "👍🏻",
    "👍🏿",
    "👌",
    "👌🏽",
    "🙏",
    "✅",
    "👍👍👍",
    "好的👌",
    "OK!",
    "Ok。",
    # Alone, a pledge or an emoji code answers a notice the way "好的" does.
    "马上安排",
    "保证完成任务",
    "好的，这就去办",
    "好的，马上办",
    "[强]",
    "[OK]",
    "[玫瑰][玫瑰]",
    "［抱拳］",
    "On it",
    "Will do",
    "Will handle it",
]
HARD_NEGATIVES = [
    "我这边有111户还没登记",
    "收到，不过截止日期能不能延后？",
    "收到，但是表格打不开",
    "收到?",
    "收到了吗",
    "收到没",
    "文件没收到",
    "还没收到",
    "没有收到",
    "未收到",
    "能收到吗",
    "请确认收到",
    "收到请回复",
    "说明白",
    "去了解一下",
    "传阅",
    "谢谢",
    "谢谢大家",
    "2",
    "11户",
    "1栋",
    "好的，下午送过去",
    "明白，但需要再确认人数",
    "收到，已转发各网格",
    "ok but the form is broken",
    "received the form, but page 2 is missing",
    "noted?",
    "got it, when is the deadline",
    "下午三点开会",
    "【通知】明天开会",
    "收到，我这边有两户情况特殊",
    "收到，3号楼停水了",
    "好的呢",
    "这个收到的要求太多了",
    "谁收到了",
    "哪个社区收到了",
    "怎么收到",
    "不明白",
    "不太明白",
    "",
    "   ",
    "。。。",
    "收到" * 30,
    "a" * 500,
    "我们社区收到了三份不同的表格，内容一样",
    "why do we have to say received",
    # Prefixes that say something of their own (found in review).
    "尚无收到",
    "暂无收到",
    "均无收到",
    "拒绝收到",
    "别人收到",
    "部分收到",
    "一半收到",
    "只有部分收到",
    "差一份收到",
    "缺页收到",
    "乱码收到",
    "空白收到",
    "破损收到",
    "昨天收到",
    "晚上十点收到",
    "今天才收到",
    "延迟收到",
    "第三次收到",
    "多次收到",
    "两个群都收到",
    "两份收到",
    "一户收到",
    "只有三个社区收到",
    "全镇只有两个村已收到",
    "别的社区收到",
    "大部分村收到",
    "退款已收到",
    "首付已收到",
    "回复收到",
    "表格收到",
    "王芳收到",
    "王芳沒收到",
    "還沒收到",
    "我們沒收到",
    "無法收到",
    "為何收到",
    "請問收到",
    "請回覆收到",
    "三个社区收到",
    # Numbers and symbols next to an ack, other question marks, English that only looks like an ack.
    "收到，11",
    "收到 11",
    "收到 -1",
    "收到 ¹¹",
    "收到 (1)",
    "收到 #1",
    "2",
    "收到 ×",
    "received 1",
    "1👍",
    "收到﹖",
    "收到︖",
    "王芳收到﹖",
    "收到‽",
    "收到⁈",
    "收到⸮",
    "No, Ted",
    "no ted",
    "Ok, many",
    "是",
    "是的",
    # A pledge that says when or what, codes that are not acks, English with a condition.
    "收到，今天落实",
    "收到，下午三点前报",
    "收到，马上转给王芳",
    "马上到",
    "保证完成任务的前提是给够时间",
    "收到[捂脸]",
    "[疑问]",
    "[强]这个办法好",
    "Will do it tomorrow, the system is down",
    "On it, but I need the template",
    "收到，已转发各网格",
]


@pytest.mark.parametrize("text", STRONG_ACKS)
def test_strong_acks(text: str) -> None:
    verdict = ACKS.judge(text)
    assert verdict.hit, verdict.detail
    assert verdict.strength is Strength.STRONG


@pytest.mark.parametrize("text", WEAK_ACKS)
def test_weak_acks(text: str) -> None:
    verdict = ACKS.judge(text)
    assert verdict.hit, verdict.detail
    assert verdict.strength is Strength.WEAK


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_are_kept(text: str) -> None:
    assert not ACKS.judge(text).hit


@pytest.mark.parametrize(
    ("text", "sender"),
    [("王芳收到", "王芳"), ("李建国收到", "李建国"), ("王芳已收到", "王芳 (朝阳社区)"), ("张三收悉", "Zhang 张三")],
)
def test_the_senders_own_name_may_precede_an_ack(text: str, sender: str) -> None:
    assert ACKS.judge(text, sender_name=sender).hit
    assert not ACKS.judge(text, sender_name="别人").hit


def test_the_senders_name_with_a_negation_is_kept() -> None:
    assert not ACKS.judge("王芳没收到", sender_name="王芳").hit


NAMED_ACKS = ["王芳收到", "王芳没收到", "收到-王芳", "收到，王芳没到", "朝阳社区王芳收到", "王芳收到，马上安排"]


def test_a_verdict_says_whether_it_read_the_senders_name() -> None:
    assert ACKS.judge("王芳收到", sender_name="王芳").by_name
    assert ACKS.judge("王芳收到", sender_name="别人").by_name
    assert not ACKS.judge("收到", sender_name="王芳").by_name
    assert not ACKS.judge("3号楼还差5份表", sender_name="王芳").by_name


@pytest.mark.parametrize("text", STRONG_ACKS + WEAK_ACKS + HARD_NEGATIVES + NAMED_ACKS)
def test_a_verdict_that_did_not_read_the_name_is_everyones(text: str) -> None:
    """Replay reuses such a verdict for every sender of the same text."""
    verdict = ACKS.judge(text, sender_name="王芳（朝阳社区）")
    if not verdict.by_name:
        assert ACKS.judge(text, sender_name="别人") == verdict
        assert ACKS.judge(text) == verdict


@pytest.mark.parametrize(
    ("text", "sender"),
    [
        ("收到-王芳", "王芳"),
        ("收到 王芳", "王芳"),
        ("收到（王芳）", "王芳"),
        ("收到！李建国", "李建国"),
        ("王芳收到，马上安排", "王芳"),
        ("王芳收到[握手]", "王芳"),
        ("三网格王芳收到", "王芳（三网格）"),
        ("收到-三网格王芳", "王芳（三网格）"),
        ("朝阳社区王芳收到", "朝阳社区-王芳"),
        ("李伟收到", "Li Wei 李伟"),
    ],
)
def test_the_senders_own_name_or_unit_may_be_signed_around_an_ack(text: str, sender: str) -> None:
    assert ACKS.judge(text, sender_name=sender).hit
    assert not ACKS.judge(text, sender_name="别人").hit


@pytest.mark.parametrize(
    ("text", "sender"),
    [("收到，王芳没到", "王芳"), ("收到，三网格还没报", "王芳（三网格）"), ("收到王芳的材料", "王芳")],
)
def test_a_name_after_an_ack_that_says_more_is_kept(text: str, sender: str) -> None:
    assert not ACKS.judge(text, sender_name=sender).hit


@pytest.mark.parametrize(
    ("emoji", "hit"), [("👍", True), ("👌🏼", True), ("🙏", True), ("😂", False), (None, False), ("👍😂", False)]
)
def test_stickers(emoji: str | None, hit: bool) -> None:
    assert ACKS.judge_sticker(emoji).hit is hit


def test_extra_ack_words_from_config() -> None:
    rule = AckRule(extra_words=["已办", "copy!"])
    assert rule.judge("已办").hit and rule.judge("已办👍").hit
    assert not ACKS.judge("已办").hit


DEMANDS_ZH = [
    "收到请回复",
    "请回复收到",
    "看到请回个1",
    "请接龙",
    "请确认收到",
    "收到请回复1",
    "请大家扣1",
    "看到扣1",
    "大家扣1",
    "各位回复收到",
    "收到后请在群里回复确认",
    "请各位及时反馈收到",
    "请大家接龙确认",
    "收到的请回复一下",
    "请各社区分别回复收到",
    "【通知】明天上午9点在三楼开会，请各社区书记参加。收到请回复。",
    "各位社区书记：请于周五前报送台账，收到请回复1",
    "收到请接龙",
    "请确认已读",
    "请回复确认",
    "看到请回复",
    "请务必回复收到",
    "请各社区于周五前报送人口台账，收到后在群里回复收到",
    "请各社区收到后回复",
    "关于走访的通知……请各村收到后及时反馈",
    "看到消息请回复",
    "收到请回",
    "收到請回覆",
    "请勿迟到，收到请回复",
    "明天开会不要迟到，收到请回复",
    "本周六社区免费体检，收到请回复",
    "…收到请回复。要求如下：带身份证",
    "请大家扣111",
    # Who, when or on what condition between 请 and the reply; a named ack word; a like as proof.
    "请各位组员看到后回复",
    "请参训学员收到后回个好",
    "看到的请扣1",
    "请在今晚八点前回复收到",
    "请各科室负责人收到后回复",
    "请回复‘已读’",
    '请回复"明白"',
    "请每位网格员回复“收到+姓名”",
    "收到请回复：社区名+姓名+收到",
    "看到请点赞表示已阅",
    "已阅请点赞",
    "收到请回个👍",
    "阅后请回复[强]",
    "请大家看到后点个赞",
    "材料已发邮箱，请查收后回复确认",
    "收到的回复一下，谢谢",
    # Joined to a second demand, or at the end of a notice.
    "请回复收到并转发至各小区楼长群",
    "请于周五前报送。回复收到，并同步转发给各小区楼长",
    "请各社区分别回复收到",
    "紧急！3号楼燃气泄漏，附近网格员马上到场，看到回复",
]
DEMANDS_EN = [
    "Please reply 'received'",
    "reply 1 when you see this",
    "Please confirm receipt.",
    "Kindly acknowledge.",
    "Meeting at 3pm tomorrow. Please reply with OK.",
    "pls reply 1",
    "Please acknowledge receipt of this notice",
    'Reply "received" please',
    "Everyone reply 1",
    "Please reply once received",
    "Kindly reply to confirm you have received this.",
    "Reply to confirm receipt",
    "Let me know you have seen this by replying",
    "Drop a 👍 once you've read this",
    "Give this a thumbs up when you've read it",
]
NOT_DEMANDS = [
    "收到请回复这种要求我们社区一直没执行",
    "无需回复收到",
    "不用回复收到，看到就行",
    "请勿回复收到",
    "收到",
    "我已经回复了",
    "请回复你的意见",
    "请报送台账",
    "请确认一下时间",
    "大家回家注意安全",
    "接龙太多了",
    "请于明天回复具体人数",
    "确认收到的要求是形式主义",
    "收到回复了",
    "I received the reply",
    "Reply to this thread with your questions",
    "No need to reply 'received'",
    "Please don't reply 1",
    "收到请回复这类要求应该取消",
    "",
    "请各社区反馈一下存在的问题",
    "请回复一下王主任的邮件",
    "请回一下电话",
    "文件收到后请及时反馈意见",
    "没收到的请回复",
    "为什么总有人发“收到请回复”？",
    "又是“收到请回复”，累不累",
    "财务已确认收到各社区的报表",
    "上周发的函至今收到回复一直没有",
    "请回复1或2选择方案",
    "请回复确认时间",
    "Please confirm your attendance by Friday",
    "Please confirm the number of households",
    "Please reply one by one",
    "Please answer yes or no",
    "确认收到",
    "又要回复收到，烦不烦",
    "请不要回复收到",
    "请大家接龙报到",
    "请各位给这篇文章点赞",
    "以后开会不用在群里签到，回复收到也免了",
    "请于明天下班前回复具体人数",
    "请各位看到后回复意见",
    "Let me know if you have questions",
]


@pytest.mark.parametrize("text", DEMANDS_ZH + DEMANDS_EN)
def test_demands_are_recognised(text: str) -> None:
    verdict = DEMANDS.judge(text)
    assert verdict.hit, verdict.detail


@pytest.mark.parametrize("text", NOT_DEMANDS)
def test_mentions_and_negations_are_not_demands(text: str) -> None:
    assert not DEMANDS.judge(text).hit


@pytest.mark.parametrize(
    ("text", "urgent"),
    [
        ("【紧急】今晚8点前上报", True),
        ("特急！收到请回复", True),
        ("加急件", True),
        ("#urgent reply 1", True),
        ("URGENT: reply 1", True),
        ("/urgent 收到请回复", True),
        ("此事不紧急", False),
        ("not urgent", False),
        ("明天开会", False),
        ("", False),
        ("紧急联系人名单请报送", False),
        ("这不是紧急的事", False),
        ("【紧急】不急着吃饭，今晚前上报", True),
    ],
)
def test_urgency(text: str, urgent: bool) -> None:
    assert URGENCY.judge(text).hit is urgent


def test_configured_urgent_markers_replace_the_defaults() -> None:
    rule = UrgencyRule(["火速"])
    assert rule.judge("火速处理").hit and not rule.judge("【紧急】").hit


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("#通知 明天开会", NoticeKind.MEETING),
        ("【通知】周五前报送台账", NoticeKind.DATA_REQUEST),
        ("【会议通知】下午3点", NoticeKind.MEETING),
        ("通知：周六停水", NoticeKind.NOTICE),
        ("Notice: please submit the form by Friday", NoticeKind.DATA_REQUEST),
        ("#notice office closed", NoticeKind.NOTICE),
        ("大家好", None),
        ("关于通知的问题", None),
        ("请看通知", None),
    ],
)
def test_notices(text: str, kind: NoticeKind | None) -> None:
    verdict = NOTICES.judge(text)
    assert verdict.kind is kind and verdict.hit is (kind is not None)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_crashes(text: str) -> None:
    for verdict in (ACKS.judge(text), DEMANDS.judge(text), URGENCY.judge(text), NOTICES.judge(text)):
        assert isinstance(verdict.hit, bool) and verdict.detail


QUESTIONS = ["？", "?", "能不能延后？", "什么时候截止?", " when is it due?", "吗？", "﹖", "‽"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(STRONG_ACKS + WEAK_ACKS), st.sampled_from(QUESTIONS))
def test_adding_a_question_to_an_ack_never_makes_it_deletable(ack: str, question: str) -> None:
    assert not ACKS.judge(ack + question).hit
    assert not ACKS.judge(ack + "，" + question).hit


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(STRONG_ACKS + WEAK_ACKS),
    st.text(alphabet="户号栋楼人没未不能但延期表格问题2345", min_size=1, max_size=8),
)
def test_adding_substance_to_an_ack_keeps_it(ack: str, substance: str) -> None:
    assert not ACKS.judge(ack + "，" + substance + "还没登记").hit


SUBSTANCE_WORDS = [
    "没",
    "部分",
    "只有",
    "两份",
    "昨天",
    "三次",
    "别的",
    "尚无",
    "今天才",
    "还",
    "两个群都",
    "差一份",
    "退款",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(SUBSTANCE_WORDS), min_size=1, max_size=3),
    st.sampled_from(["收到", "已收到", "收悉", "知悉"]),
)
def test_a_prefix_with_substance_never_makes_an_ack(words: list[str], ack: str) -> None:
    prefix = "".join(words)
    for unit in ("", "社区", "网格"):
        assert not ACKS.judge(prefix + unit + ack).hit
