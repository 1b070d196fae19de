"""`jianfu demo` narrates in its language, and every scene shows its effect."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from bot import cli
from bot.i18n import Catalog, fill

CATALOG = Catalog.load()


@pytest.fixture(scope="module", params=["zh-CN", "en"])
def demo(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(language, output) of one demo run per language."""
    # capsys is function-scoped; one run per language serves every test here.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["demo", "--language", request.param]) == 0
    return request.param, out.getvalue()


def scene(language: str, out: str, key: str, **params: object) -> str:
    """The narration of one scene: from its heading to the next one."""
    heading = f"== {fill(CATALOG.raw(language, f'demo.scene.{key}'), params)} =="
    assert heading in out, heading
    rest = out.split(heading, 1)[1]
    return rest.split("\n== ", 1)[0]


def test_the_demo_narrates_in_its_own_language(demo: tuple[str, str]) -> None:
    language, out = demo
    english_narration = ("presses", "deletes message", "asks Telegram", "a chart (PNG)", "renames the group", "Done:")
    if language == "en":
        assert all(words in out for words in english_narration)
        assert not re.search(r"督导登记部门|点了按钮|删除「", out)
    else:
        assert not any(words in out for words in english_narration)
        assert "点了按钮" in out and "🗑 删除「" in out and "把「[已结束]朝阳社区工作群」设为只读" in out
        assert out.rstrip().splitlines()[-1].startswith("演示结束：")
    assert not [line for line in out.splitlines() if line != line.rstrip()]  # no trailing spaces


def test_help_differs_by_person_and_chat(demo: tuple[str, str]) -> None:
    language, out = demo
    member, admin, supervisor = scene(language, out, "help").split("\n👤 ")[1:]
    assert "/notice" in member and "/register" not in member and "/whistle" not in member
    assert "/register" in admin and "/extend" in admin and "/whistle" not in admin
    assert "/dept quota" in supervisor and "/whistles" in supervisor and "/whistle " in supervisor


def test_a_duplicate_notice_shows_once_in_the_inbox(demo: tuple[str, str]) -> None:
    language, out = demo
    text = scene(language, out, "duplicate")
    assert ("(also in 1 more group)" if language == "en" else "（另有 1 个群也发了）") in text
    assert ("Inbox: 1 notice " if language == "en" else "收件箱：1 条") in text


def test_an_ack_to_an_urgent_notice_stays(demo: tuple[str, str]) -> None:
    language, out = demo
    text = scene(language, out, "urgent")
    assert "/urgent" in text and ("Received!" if language == "en" else "收到！") in text
    assert "🗑" not in text  # nothing is taken out of the group


def test_set_turns_on_a_weekly_group_summary_that_then_arrives(demo: tuple[str, str]) -> None:
    language, out = demo
    group = "Xiangyang Community Work Group" if language == "en" else "向阳社区工作群"
    assert CATALOG.raw(language, "digest.set_on") in scene(language, out, "set", group=group)
    summary = "This group's week (2026-W48" if language == "en" else "本群一周小结（2026-W48"
    assert summary in scene(language, out, "digest")


def test_extend_puts_the_close_off(demo: tuple[str, str]) -> None:
    language, out = demo
    text = scene(language, out, "temporary", days=3)
    put_off = (
        "The close is put off by 2 days; it now closes on 2026-11-29" if language == "en" else "关闭时间已推迟 2 天"
    )
    assert put_off in text
    closing = text.split("⏰")[-1]
    assert ("leaves" if language == "en" else "👋 退出") in closing


def test_the_other_scenes_show_the_bot_at_work(demo: tuple[str, str]) -> None:
    language, out = demo
    if language == "en":
        assert "Jianfu has joined" in out and "is now registered with" in out and "Sorry, only supervisors" in out
        assert "Read (1): Zhang San" in out  # /readers
        assert "It is quiet hours" in out and "Your notice has been published" in out  # a held /notice
        assert "Your receipt code" in out and "New anonymous reports: 1" in out
        assert "Supervisors answered: We met" in out
        assert "asks members for:" in out and "Kept for you until you started using Jianfu (1)" in out
        assert '"Received" replies removed: 4' in out and "Departments come from the registry" in out  # replay
    else:
        assert "减负助手已加入" in out and "本群已登记到「民政局」" in out and "抱歉，这个命令只有督导可以使用" in out
        assert "已读（1）：张三" in out
        assert "免打扰时段" in out and "你的通知已发布到" in out
        assert "你的回执码" in out and "新的匿名反映：1 条" in out and "督导答复：已约谈民政局" in out
        assert "对群成员提出了这些要求" in out and "有 1 条提醒为你保存着" in out and "【通知】周五前报送台账。" in out
        assert "删除“收到”类回复 4 条" in out and "部门来自数据库中的部门登记" in out
    weekly = "Burden digest · 2026-W48" if language == "en" else "减负周报 · 2026-W48"
    assert out.count(weekly) >= 4


def test_without_a_flag_the_demo_speaks_the_configured_language(monkeypatch, capsys) -> None:
    spoken: list[str | None] = []

    async def fake_demo(language: str | None = None) -> int:
        spoken.append(language)
        return 0

    monkeypatch.setattr("bot.demo.run_demo", fake_demo)
    monkeypatch.setenv("JIANFU_LANGUAGE", "en")
    assert cli.main(["demo"]) == 0
    monkeypatch.setenv("JIANFU_LANGUAGE", "zh-CN")
    assert cli.main(["demo"]) == 0
    assert spoken == ["en", "zh-CN"]
