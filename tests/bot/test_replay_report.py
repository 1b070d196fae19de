"""`jianfu replay` end to end on a crafted export: the JSON report's keys and values, the terminal
report in both languages, the HTML page and chart, the progress bar, and bad input."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.replay.command import ReplayOptions, run
from bot.settings import load_settings
from bot.testing.exports import ExportedChat, single_chat, whole_account, write

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ADMIN, MEMBER, STRANGER, WANG = (2001, "李书记"), (3001, "张三"), (4001, "路人"), (3002, "王芳")
REQUEST = "【通知】请各社区于11月30日前报送第四季度消防隐患排查表，收到请回复。"
A_ID, B_ID = 1234500001, 1234500002


def crafted() -> tuple[ExportedChat, ExportedChat, ExportedChat]:
    """Two groups and a personal chat, with every outcome the report counts."""
    a, b = ExportedChat(A_ID, "朝阳社区工作群"), ExportedChat(B_ID, "向阳社区工作群")
    at = lambda minutes: MONDAY + timedelta(minutes=minutes)  # noqa: E731
    request = a.message(ADMIN, REQUEST, at=at(0))
    a.message(MEMBER, "收到！", at=at(1), reply_to=request)  # removed
    a.message(STRANGER, at=at(2), sticker="👍", reply_to=request)  # removed, a sticker
    a.message(WANG, "王芳收到", at=at(3))  # removed: her name, then an ack, in the notice window
    a.message(MEMBER, "好的", at=at(4))  # kept: a weak ack that answers nothing
    a.message(STRANGER, "收到，不过表格第二页打不开？", at=at(5), reply_to=request)  # kept: substance
    urgent = a.message(ADMIN, "【紧急】今晚8点前上报受灾情况，收到请回复", at=at(60))
    a.message(MEMBER, "收到", at=at(61), reply_to=urgent)  # kept and counted as a read
    copy = b.message(ADMIN, REQUEST, at=at(10))  # the same request in another group
    b.message(MEMBER, "收到", at=at(11), reply_to=copy)  # removed
    b.message(ADMIN, "#通知 请各网格明天上午8点前上报积水点位", at=at(13 * 60 + 30))  # 22:30: after hours
    b.message(ADMIN, "/temp 防汛", at=at(24 * 60))
    b.message(ADMIN, "/done", at=at(24 * 60 + 1))  # closes Friday 09:01
    b.message(MEMBER, "还有人吗", at=at(4 * 24 * 60 + 2 * 60))  # Friday 11:00: after the close
    a.message(ADMIN, "通知：周日上午全员到岗", at=at(5 * 24 * 60 + 60))  # Saturday: after hours
    personal = ExportedChat(99, "王芳", "personal_chat")
    personal.message(WANG, "收到", at=at(3))
    return a, b, personal


@pytest.fixture
def export(tmp_path: Path) -> Path:
    a, b, personal = crafted()
    return write(tmp_path / "result.json", whole_account([a, b, personal]))


def replay(*args: str, capsys) -> tuple[int, str, str]:
    code = cli.main(["replay", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_json_report_counts_what_the_bot_would_have_done(export: Path, capsys) -> None:
    code, out, err = replay(str(export), "--json", capsys=capsys)
    assert code == 0 and err == ""
    report = json.loads(out)
    assert (report["messages"], report["chats"], report["chats_skipped"]) == (15, 2, {"personal_chat": 1})
    assert report["acks_removed"] == 4
    assert report["acks_by_rule"] == {"ack_only": 2, "prefixed_ack": 1, "ack_sticker": 1}
    assert report["acks_recorded"] == 1
    assert (report["ack_demands"], report["reminders"]) == (2, 2)
    assert report["formalism"] == {"checkin": 0, "photo_proof": 0, "promotion": 0, "instant_reply": 0}
    assert (report["notices"], report["data_requests"]) == (5, 4)
    assert (report["duplicate_notices"], report["duplicate_data_requests"]) == (1, 0)
    # Every notice names a deadline ("今晚8点前" too).
    assert (report["after_hours_notices"], report["deadlines"]) == (2, 5)
    assert (report["temporary_closes"], report["temporary_closes_pending"]) == (1, 0)
    # Removed acks × the other people of their group (group A shows 4, group B 2) × 5 s.
    assert report["minutes_saved"] == round((3 * 4 + 1 * 2) * 5 / 60, 1)
    assert report["period"] == {
        "start": "2026-11-23T09:00+08:00",
        "end": "2026-11-28T10:00+08:00",
        "timezone": "Asia/Shanghai",
    }


def test_by_chat_holds_the_same_figures_per_group_keyed_by_the_export_id(export: Path, capsys) -> None:
    report = json.loads(replay(str(export), "--json", capsys=capsys)[1])
    a, b = report["by_chat"][str(A_ID)], report["by_chat"][str(B_ID)]
    assert set(report["by_chat"]) == {str(A_ID), str(B_ID)}
    assert (a["name"], a["messages"], a["acks_removed"], a["ack_demands"], a["notices"]) == (
        "朝阳社区工作群",
        9,
        3,
        1,
        3,
    )
    assert (a["duplicate_notices"], a["after_hours_notices"], a["deadlines"], a["temporary_closes"]) == (0, 1, 3, 0)
    assert (b["messages"], b["acks_removed"], b["ack_demands"], b["notices"], b["duplicate_notices"]) == (6, 1, 1, 2, 1)
    assert (b["after_hours_notices"], b["deadlines"], b["temporary_closes"], b["after_close"]) == (1, 2, 1, 1)
    for key in (
        "acks_removed",
        "ack_demands",
        "notices",
        "duplicate_notices",
        "after_hours_notices",
        "deadlines",
        "temporary_closes",
    ):
        assert a[key] + b[key] == report[key], key
    assert a["minutes_saved"] == round(3 * 4 * 5 / 60, 1) and a["readers"] == 4


def test_the_burden_index_is_the_digests_by_group_without_a_registry(export: Path, capsys) -> None:
    report = json.loads(replay(str(export), "--json", capsys=capsys)[1])
    rows = {row["name"]: row for row in report["by_department"]}
    # notices ×1, data requests ×2, ack demands ×2, after hours ×2 (the digest's weights).
    assert rows["朝阳社区工作群"]["burden"] == 1 * 1 + 2 * 2 + 2 * 1 + 2 * 1
    assert rows["向阳社区工作群"]["burden"] == 2 * 2 + 2 * 1 + 2 * 1
    assert report["burden"]["total"] == 9 + 8 and report["burden"]["weights"]["data_requests"] == 2
    assert [row["rank"] for row in report["by_department"]] == [1, 2]
    assert report["weeks"][0]["week"] == "2026-W48" and report["weeks"][0]["acks_removed"] == 4
    [sender] = [sender for sender in report["by_sender"] if sender["ack_demands"]]
    assert (sender["name"], sender["ack_demands"], sender["notices"], sender["after_hours_notices"]) == (
        "李书记",
        2,
        5,
        2,
    )
    assert report["temporary_groups"] == [
        {"chat": B_ID, "name": "向阳社区工作群", "close_at": "2026-11-27T09:01+08:00", "closed": True}
    ]


def test_the_terminal_report_speaks_the_configured_language(export: Path, capsys) -> None:
    _code, chinese, _err = replay(str(export), capsys=capsys)
    assert chinese.startswith("减负回放：减负助手在这些群里会做什么")
    assert "删除“收到”类回复 4 条（纯确认词 2 条，名字或单位加“收到” 1 条，表情贴纸 1 条）" in chinese
    assert "要求回复“收到” 2 次" in chinese and "临时群按期关闭 1 个" in chinese
    assert "· 向阳社区工作群（1234500002）：消息 6 条" in chinese and "之后的 1 条消息未计入" in chinese
    _code, english, _err = replay(str(export), "--language", "en", capsys=capsys)
    assert '"Received" replies removed: 4 (ack words 2, a name or unit then an ack 1, stickers 1)' in english
    assert "Burden index by group" in english and "1. 朝阳社区工作群 — 9" in english
    assert not re.search(
        r"[\u4e00-\u9fff]", english.replace("朝阳社区工作群", "").replace("向阳社区工作群", "").replace("李书记", "")
    )


def test_out_writes_a_self_contained_html_report_the_chart_and_the_json(export: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    code, _out, err = replay(str(export), "--out", str(out), "--language", "en", capsys=capsys)
    assert code == 0 and sorted(path.name for path in out.iterdir()) == ["chart.png", "report.html", "report.json"]
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Jianfu replay report</title>" in page
    # Nothing to fetch: no links to scripts, styles or pictures elsewhere; the chart is inline.
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "http" not in page
    assert "data:image/png;base64," in page and "向阳社区工作群" in page
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["acks_removed"] == 4
    assert f"Written: {out / 'report.html'}" in err


def test_names_in_the_html_are_escaped(tmp_path: Path, capsys) -> None:
    chat = ExportedChat(7, "<script>alert(1)</script>")
    chat.message(ADMIN, "#通知 <b>停水</b> & 停电", at=MONDAY)
    code, _out, _err = replay(
        str(write(tmp_path / "r.json", single_chat(chat))), "--out", str(tmp_path / "o"), capsys=capsys
    )
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert code == 0 and "<script>" not in page and "&lt;script&gt;" in page


def test_the_progress_bar_goes_to_stderr_only_when_asked_or_on_a_terminal(export: Path) -> None:
    settings = load_settings(None)
    quiet_out, quiet_err = io.StringIO(), io.StringIO()
    assert run(settings, ReplayOptions((export,), "en"), stdout=quiet_out, stderr=quiet_err) == 0
    assert quiet_err.getvalue() == ""
    out, err = io.StringIO(), io.StringIO()
    assert run(settings, ReplayOptions((export,), "en", progress=True), stdout=out, stderr=err) == 0
    lines = err.getvalue().split("\n")
    assert lines[0].startswith("\rReading [") and "100%" in lines[0]
    assert lines[1].startswith("\rReplaying [") and "15 / 15 messages" in lines[1]
    assert out.getvalue() == quiet_out.getvalue()


def test_a_folder_stands_for_its_result_json_and_several_exports_merge(tmp_path: Path, capsys) -> None:
    a, b, _personal = crafted()
    (tmp_path / "ChatExport_a").mkdir()
    write(tmp_path / "ChatExport_a" / "result.json", single_chat(a))
    write(tmp_path / "b.json", single_chat(b))
    report = json.loads(replay(str(tmp_path / "ChatExport_a"), str(tmp_path / "b.json"), "--json", capsys=capsys)[1])
    # The copy in group B is still a duplicate: the two files are replayed in one time order.
    assert (report["chats"], report["duplicate_notices"], report["acks_removed"]) == (2, 1, 4)


# Bad input ---------------------------------------------------------------------------------------


def refused(capsys, *args: str) -> str:
    code, out, err = replay(*args, capsys=capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1, err
    return err


def test_a_broken_export_gets_one_line_naming_the_place_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    a, _b, _personal = crafted()
    data = json.dumps(single_chat(a), ensure_ascii=False, indent=1)
    broken = data.replace('"王芳收到"', '"王芳收到', 1)
    path = tmp_path / "result.json"
    path.write_text(broken, encoding="utf-8")
    out = tmp_path / "report"
    error = refused(capsys, str(path), "--out", str(out))
    assert error.startswith(f"jianfu replay: {path}，群“朝阳社区工作群”（id 1234500001）第 4 条消息（第 ")
    assert "JSON 在此处损坏" in error
    assert not out.exists()
    english = refused(capsys, str(path), "--language", "en")
    assert (
        'group "朝阳社区工作群" (id 1234500001), message 4 (byte ' in english and "the JSON is broken here" in english
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<html><body>chat</body></html>", "this is the HTML export"),
        ('{"about": "x"}', "not a Telegram Desktop export"),
        ("", "the file is empty"),
    ],
)
def test_foreign_files_are_named_for_what_they_are(tmp_path: Path, capsys, content: str, expected: str) -> None:
    path = tmp_path / "messages.html"
    path.write_text(content, encoding="utf-8")
    assert expected in refused(capsys, str(path), "--language", "en")


def test_an_export_without_groups_is_refused(tmp_path: Path, capsys) -> None:
    personal = ExportedChat(99, "王芳", "personal_chat")
    personal.message(WANG, "在吗", at=MONDAY)
    error = refused(capsys, str(write(tmp_path / "result.json", single_chat(personal))), "--language", "en")
    assert "no group chats to replay" in error and "personal_chat" in error


def test_bad_options_are_refused_before_anything_is_read(tmp_path: Path, capsys, export: Path) -> None:
    assert "no such file or folder" in refused(capsys, str(tmp_path / "missing.json"), "--language", "en")
    (tmp_path / "empty").mkdir()
    assert "a folder without result.json" in refused(capsys, str(tmp_path / "empty"), "--language", "en")
    (tmp_path / "taken").write_text("x")
    assert "this is a file, not a folder" in refused(
        capsys, str(export), "--out", str(tmp_path / "taken"), "--language", "en"
    )
    assert "not a time zone name" in refused(
        capsys, str(export), "--export-timezone", "Mars/Olympus", "--language", "en"
    )
    assert "write it like sqlite+aiosqlite" in refused(
        capsys, str(export), "--database", "mysql://x", "--language", "en"
    )


def test_the_same_group_given_twice_is_refused(tmp_path: Path, capsys) -> None:
    a, _b, _personal = crafted()
    first, second = write(tmp_path / "one.json", single_chat(a)), write(tmp_path / "two.json", single_chat(a))
    assert f"this group is also in {first}" in refused(capsys, str(first), str(second), "--language", "en")


def test_every_problem_replay_can_name_has_words_in_both_languages() -> None:
    import re

    from bot.i18n import Catalog

    sources = "".join(
        (Path(__file__).parents[2] / "bot" / "replay" / name).read_text()
        for name in ("export.py", "command.py", "registry.py")
    )
    problems = set(re.findall(r'(?:Error\([^"\n]*|return |else |problem = )"([a-z_]+)"', sources)) | {
        "chat_text",
        "chat_number",
    }
    assert {"invalid_json", "html", "message_no_date", "no_groups", "database", "out_not_dir"} <= problems
    catalog = Catalog.load()
    for language in ("zh-CN", "en"):
        missing = {problem for problem in problems if f"replay.error.{problem}" not in catalog.messages[language]}
        assert not missing, language


def test_an_export_on_one_line_gives_the_report_an_indented_one_gives(tmp_path: Path, capsys) -> None:
    # Telegram Desktop indents its exports, and the first pass then only counts each group's
    # messages; any other layout is read message by message. Both must agree.
    a, b, personal = crafted()
    export = whole_account([a, b, personal])
    indented = write(tmp_path / "indented.json", export)
    one_line = tmp_path / "one_line.json"
    one_line.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    first = json.loads(replay(str(indented), "--json", capsys=capsys)[1])
    second = json.loads(replay(str(one_line), "--json", capsys=capsys)[1])
    assert first.pop("sources") != second.pop("sources")
    assert first == second and first["acks_removed"] == 4


def test_a_list_whose_layout_misleads_the_count_is_refused(tmp_path: Path, capsys) -> None:
    a, _b, _personal = crafted()
    text = json.dumps(single_chat(a), ensure_ascii=False, indent=1)
    # Two messages on one line: the layout no longer shows every message.
    joined = text.replace("\n  },\n  {", "\n  }, {", 1)
    path = tmp_path / "result.json"
    path.write_text(joined, encoding="utf-8")
    assert "laid out differently from what it holds" in refused(capsys, str(path), "--language", "en")


@pytest.mark.parametrize("seconds", ["5", "7", "2.5", "0.7", "600"])
def test_the_minutes_saved_add_up_as_shown(export: Path, seconds: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("JIANFU_DIGEST__SECONDS_PER_MESSAGE", seconds)
    _code, out, _err = replay(str(export), "--language", "en", capsys=capsys)
    parts = [float(value.replace(",", "")) for value in re.findall(r"· ([\d,.]+) min saved", out)]
    [total] = re.findall(r"Member time saved: about ([\d,.]+) minute", out)
    assert len(parts) == 2 and f"{sum(parts):,.1f}" == total
