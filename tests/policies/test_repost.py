"""A demand reposted as a tracked notice keeps everything but the demand itself."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.demands import DemandRule
from policies.repost import without_demand

RULE = DemandRule()


@pytest.mark.parametrize(
    ("text", "reposted"),
    [
        ("【通知】周六停水，收到请回复", "【通知】周六停水"),
        ("【通知】周六停水，收到请回复。", "【通知】周六停水。"),
        ("各位社区书记：请于周五前报送台账，收到请回复1", "各位社区书记：请于周五前报送台账"),
        (
            "【通知】明天上午9点在三楼会议室开会，请各社区书记准时参加。收到请回复。",
            "【通知】明天上午9点在三楼会议室开会，请各社区书记准时参加。",
        ),
        ("收到请回复！明天上午九点开会", "明天上午九点开会"),
        ("请各社区回复收到，并于周五前报送台账。", "请各社区于周五前报送台账。"),
        ("请回复收到并转发至各小区楼长群", "请转发至各小区楼长群"),
        ("收到后请回复，并于今天下班前把名单发我", "请于今天下班前把名单发我"),
        ("请于周五前报送。回复收到，并同步转发给各小区楼长", "请于周五前报送。同步转发给各小区楼长"),
        ("通知已发到群文件，请各社区下载后回复收到", "通知已发到群文件"),
        ("关于冬季供暖的通知，请各位认真阅读，阅后回复已阅", "关于冬季供暖的通知，请各位认真阅读"),
        ("请大家看到后点个赞，周五前交表", "周五前交表"),
        ("周六体检，看到请回个[强]", "周六体检"),
        ("停水通知\n收到请回复：社区名+姓名+收到\n联系人：王芳", "停水通知\n联系人：王芳"),
        ("明天开会，请回复‘已读’", "明天开会"),
        ("…收到请回复。要求如下：带身份证", "…要求如下：带身份证"),
        ("Meeting at 3pm tomorrow. Please reply with OK.", "Meeting at 3pm tomorrow."),
        ("The new form is attached. Please reply once received.", "The new form is attached."),
        ("Please reply 'received' after reading the attached form.", ""),
        ("收到请回复", ""),
        ("请大家接龙确认收到", ""),
        # Nothing to drop: the text comes back as it was.
        ("【通知】周六停水", "【通知】周六停水"),
        ("“收到请回复”这种要求取消了，请于周五前报送", "“收到请回复”这种要求取消了，请于周五前报送"),
    ],
)
def test_the_demand_goes_and_everything_else_stays(text: str, reposted: str) -> None:
    assert without_demand(RULE, text) == reposted


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=200),
    st.sampled_from(["收到请回复", "，请回复收到并转发", "看到请扣1。", "Please reply 'received'."]),
)
def test_what_is_left_no_longer_demands_acks_and_is_never_longer(prefix: str, demand: str) -> None:
    reposted = without_demand(RULE, prefix + demand)
    assert len(reposted) <= len(prefix + demand)
    if not RULE.judge(prefix).hit:
        assert not RULE.judge(reposted).hit, reposted
