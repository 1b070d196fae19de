"""`jianfu explain`: verdicts per message, human-readable or one JSON object per line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot import cli


def explain(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> str:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert cli.main(["explain", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "ack", "demand", "urgent", "rules"),
    [
        ("收到", True, False, False, ["ack_only"]),
        ("朝阳社区收到", True, False, False, ["prefixed_ack"]),
        ("收到，不过截止日期能不能延后？", False, False, False, []),
        ("【通知】周五前报送台账，收到请回复1", False, True, False, ["ack_demand", "notice"]),
        ("【紧急】今晚前上报，收到请回复", False, True, True, ["ack_demand", "urgent"]),
        ("Please reply 'received'", False, True, False, ["ack_demand"]),
    ],
)
def test_json_lines_carry_the_verdicts_and_the_rules_that_fired(capsys, text, ack, demand, urgent, rules) -> None:
    [line] = explain(capsys, "--json", text).splitlines()
    record = json.loads(line)
    assert (record["text"], record["ack"], record["ack_demand"], record["urgent"]) == (text, ack, demand, urgent)
    assert [fired["rule"] for fired in record["rules"]] == rules
    assert all(fired["reason"] for fired in record["rules"])


def test_reads_one_message_per_line_from_stdin(capsys, monkeypatch) -> None:
    out = explain(capsys, "--json", stdin="收到\n\n下午三点开会\n👍\n", monkeypatch=monkeypatch)
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["text"], r["ack"]) for r in records] == [("收到", True), ("下午三点开会", False), ("👍", True)]


def test_human_output_explains_the_decision(capsys) -> None:
    out = explain(capsys, "收到", "收到请回复")
    assert "ACK (strong)" in out and "ACK DEMAND" in out and "only ack words" in out


def test_extra_words_from_the_config_are_used(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('[received]\nextra_ack_words = ["已办"]\n', encoding="utf-8")
    assert cli.main(["--config", str(config), "explain", "--json", "已办"]) == 0
    assert json.loads(capsys.readouterr().out)["ack"] is True


def test_the_sender_option_lets_a_name_prefix_count(capsys) -> None:
    assert json.loads(explain(capsys, "--json", "王芳收到"))["ack"] is False
    assert json.loads(explain(capsys, "--json", "--sender", "王芳", "王芳收到"))["ack"] is True


@pytest.mark.parametrize(
    ("text", "formalism"),
    [
        ("请大家每天早上8点前在群里打卡，走访时拍照发群", ["checkin", "photo_proof"]),
        ("请转发朋友圈并截图", ["promotion"]),
        ("请秒回", ["instant_reply"]),
        ("防汛期间各村每小时在群里报平安", ["checkin"]),
        ("收到", []),
        ("我忘记打卡了，怎么补卡？", []),
    ],
)
def test_json_names_the_formalism_kinds_found_and_keeps_the_other_keys(capsys, text: str, formalism: list[str]) -> None:
    record = json.loads(explain(capsys, "--json", text))
    assert record["formalism"] == formalism
    assert {"text", "ack", "ack_demand", "urgent", "notice", "notice_kind", "ack_strength", "rules"} <= set(record)
    assert [fired["rule"] for fired in record["rules"] if fired["rule"] in formalism] == formalism


def test_human_output_names_formalism_and_its_exemption(capsys) -> None:
    out = explain(capsys, "请秒回", "防汛期间各村每小时在群里报平安")
    assert "FORMALISM (instant_reply) — recorded against the department" in out
    assert "FORMALISM (checkin) — exempt" in out and "防汛" in out


@pytest.mark.parametrize("text", ["王芳收到", "收到-王芳", "王芳收到，马上安排", "三网格王芳收到[握手]"])
def test_an_ack_around_the_senders_own_name_counts_from_the_command_line_too(capsys, text: str) -> None:
    assert json.loads(explain(capsys, "--json", "--sender", "王芳（三网格）", text))["ack"] is True
    assert json.loads(explain(capsys, "--json", "--sender", "李娜", text))["ack"] is False
