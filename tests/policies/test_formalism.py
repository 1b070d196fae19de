"""The four formalism rules and their exemption, as tables: what each finds, and what it leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.formalism import CHECKIN, INSTANT_REPLY, PHOTO_PROOF, PROMOTION, EmergencyRule, FormalismRules, Kind
from policies.received import ReceivedRule
from policies.types import ChatRef, ChatType, Message, Person

FOUND = {
    CHECKIN: [
        "请大家每天早上8点前在群里打卡",
        "各网格员每日18:00前在群内报平安",
        "请接龙报到",
        "值班人员每两小时在群里报一次岗",
        "请各位每天上报在岗情况",
        "从明天起，所有网格员上班后在群里发“到岗”",
        "周末值班人员上岗后在群里报个到",
        "Everyone please check in here every morning by 9am",
    ],
    PHOTO_PROOF: [
        "走访时请拍照留痕",
        "完成后截图发群里",
        "请上传工作照片",
        "请各网格员到岗后发定位",
        "入户后拍照发群，每户一张",
        "请将座谈会照片发至本群",
        "看完视频后请截图发群里",
        "Please post a photo in the group after each home visit",
    ],
    PROMOTION: [
        "请转发朋友圈并截图",
        "帮忙投票",
        "关注公众号",
        "请下载“随申办”App并注册",
        "帮忙给我们社区的视频点个赞，谢谢大家",
        "请转发到你所在的所有微信群",
        "请在应用商店给“XX政务”App打五星好评",
        "Please vote for our community in the online contest",
    ],
    INSTANT_REPLY: [
        "请秒回",
        "看到消息后10分钟内回复",
        "所有人24小时保持在线",
        "请大家随时待命",
        "半小时内没回复的，按缺岗处理",
        "凡是领导在群里发的消息，必须立即回复",
        "各位手机一律不得关机，群里叫到必须马上回",
        "Everyone must stay online 24/7 and respond immediately",
    ],
}
LEFT_ALONE = {
    CHECKIN: [
        "我忘记打卡了，怎么补卡？",
        "小区门口新开了一家网红打卡点",
        "接龙报名周六的志愿活动",
        "取消群内打卡以后，大家轻松多了",
        "群里天天打卡这种形式主义该停了",
        "签到表放在会议室门口，开会前签一下",
        "我已经在系统里签到了",
        "今天在岗8人，外出走访3人",
    ],
    PHOTO_PROOF: [
        "我拍了几张照片，问题挺严重的，大家看看",
        "这张照片是哪个小区的？",
        "请上传身份证正反面照片办理业务",
        "照片已经发你了",
        "请把问题点位拍照发给我，我好安排维修",
        "群里不要再发工作照片了，太占内存",
        "每天早上8:30在群里视频点名",
        "台账需附走访照片（纸质版存档，不用发群里）",
    ],
    PROMOTION: [
        "下午的会上要投票选组长",
        "请各位居民代表参加业主大会投票表决",
        "这个App怎么注册不了？",
        "我已经关注了",
        "请把这个通知转发到你们网格的居民群",
        "看到请点赞表示已阅",
        "点赞的人不多",
        "他们又在搞刷票，真是形式主义",
    ],
    INSTANT_REPLY: [
        "我会尽快回复你",
        "他们的客服24小时在线吗？",
        "要求秒回这种做法是形式主义",
        "以后不用秒回，看到了处理就行",
        "12345热线要求24小时内回复群众诉求",
        "我24小时在线，有事随时找我",
        "这个系统全天在线，随时可以申报",
        "保持在线状态会很耗电",
    ],
}


@pytest.mark.parametrize(("rule", "text"), [(rule, text) for rule, texts in FOUND.items() for text in texts])
def test_each_rule_finds_its_demands(rule, text: str) -> None:
    verdict = rule.judge(text)
    assert verdict.hit and verdict.rule == rule.kind.value, verdict.detail
    assert verdict.detail.startswith("asks members")


@pytest.mark.parametrize(("rule", "text"), [(rule, text) for rule, texts in LEFT_ALONE.items() for text in texts])
def test_questions_negations_reports_mentions_and_other_purposes_are_left_alone(rule, text: str) -> None:
    assert not rule.judge(text).hit


def test_a_message_may_make_several_demands_and_each_rule_names_its_own() -> None:
    found = FormalismRules().judge("值班期间每小时在群里报岗，拍照发群，群消息必须秒回")
    assert [verdict.rule for verdict in found] == [Kind.CHECKIN, Kind.PHOTO_PROOF, Kind.INSTANT_REPLY]
    assert FormalismRules().judge("大家早上好") == ()
    assert FormalismRules().judge("") == ()


@pytest.mark.parametrize(
    ("text", "exempt"),
    [
        ("防汛期间，请各村每2小时在群里报一次平安", True),
        ("安保期间请保持手机24小时畅通，随时待命", True),
        ("台风期间巡查危旧房屋，请拍照上传", True),
        ("请大家每天早上8点前在群里打卡", False),
        ("消防检查请拍照留痕", False),
    ],
)
def test_emergencies_and_security_are_recognised(text: str, exempt: bool) -> None:
    assert EmergencyRule().judge(text).hit is exempt


def judged(text: str):
    chat, sent = ChatRef(-1, ChatType.SUPERGROUP), datetime(2026, 11, 23, tzinfo=UTC)
    message = Message(chat, 1, sent, Person(1, "王芳"), text=text)
    return ReceivedRule().classify(message)


def test_the_judgement_names_the_kinds_and_why_they_are_exempt() -> None:
    plain = judged("请大家每天早上8点前在群里打卡，走访时拍照发群")
    assert plain.formalism_kinds == ("checkin", "photo_proof") and not plain.formalism_exempt.hit
    assert ("checkin", plain.formalism[0].detail) in plain.fired
    emergency = judged("防汛期间各村每小时在群里报平安")
    assert emergency.formalism_kinds == ("checkin",) and emergency.formalism_exempt.detail.endswith("'防汛'")
    urgent = judged("【紧急】今晚暴雨，各村值守人员每小时在群里报平安")
    assert urgent.formalism_exempt.hit and urgent.formalism_exempt.detail == "urgent"
    assert judged("大家好").formalism_kinds == () and not judged("大家好").emergency.hit


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_crashes(text: str) -> None:
    for verdict in FormalismRules().judge(text):
        assert verdict.hit and verdict.detail
    assert isinstance(EmergencyRule().judge(text).hit, bool)


def test_the_trigger_words_are_only_a_shortcut(monkeypatch) -> None:
    """With every trigger check passing, every line of the corpus and the tables gets the same verdicts."""
    import re

    from policies.demands import DemandRule
    from tests.policies.corpus import load

    tables = [text for table in (FOUND, LEFT_ALONE) for texts in table.values() for text in texts]
    texts = [line.text for line in load()] + tables
    rules, demands = FormalismRules(), DemandRule()
    fast = [([verdict.rule for verdict in rules.judge(text)], demands.judge(text).hit) for text in texts]
    anything = re.compile("")
    monkeypatch.setattr(rules, "_any_trigger", anything)
    monkeypatch.setattr(demands, "_triggers", anything)
    for rule in rules.rules:
        monkeypatch.setattr(rule, "_triggers", anything)
    slow = [([verdict.rule for verdict in rules.judge(text)], demands.judge(text).hit) for text in texts]
    assert [text for text, one, other in zip(texts, fast, slow, strict=True) if one != other] == []
