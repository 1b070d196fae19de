"""Log lines: plain or JSON, secrets redacted everywhere, exceptions by type and place unless -v."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from bot import logs
from bot.logs import JsonFormatter, PlainFormatter, Redactor
from bot.settings import load_settings

TOKEN = "123456789:AAE-secret_Part-xyz"


def redactor() -> Redactor:
    redact = Redactor()
    redact.add_token(TOKEN)
    redact.add("hook-Secret-42")
    return redact


def record_with_error(message: str, *args: object) -> logging.LogRecord:
    try:
        raise ValueError(f"user text: 张三 said 收到 with {TOKEN}")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord("jianfu.test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_the_redactor_hides_the_token_its_secret_half_other_secrets_and_url_passwords() -> None:
    redact = redactor()
    text = (
        f"url https://api.telegram.org/bot{TOKEN}/getMe, half {TOKEN.partition(':')[2]}, "
        "encoded 123456789%3AAAE-secret_Part-xyz, hook hook-Secret-42, "
        "db postgresql+asyncpg://jianfu:s3cr%40t-pw@db:5432/jianfu"
    )
    assert redact(text) == (
        "url https://api.telegram.org/bot<token>/getMe, half <token>, encoded <token>, hook <secret>, "
        "db postgresql+asyncpg://jianfu:***@db:5432/jianfu"
    )


def test_short_secrets_are_not_redacted_as_ordinary_words() -> None:
    redact = Redactor()
    redact.add("abc")
    assert redact("abc def") == "abc def"


def test_protect_secrets_learns_the_deployments_secrets() -> None:
    settings = load_settings(
        None,
        telegram={"token": TOKEN, "webhook": {"secret": "hook-Secret-42"}},
        database={"url": "postgresql+asyncpg://jianfu:long-db-password@db/jianfu"},
    )
    redact = Redactor()
    logs.protect_secrets(settings, redact)
    assert redact(f"{TOKEN} hook-Secret-42 long-db-password") == "<token> <secret> <secret>"


def test_plain_lines_show_an_exception_by_type_and_place_only() -> None:
    line = PlainFormatter(verbose=False, redact=redactor()).format(record_with_error("update %s failed", 7))
    assert "\n" not in line
    assert "ERROR jianfu.test: update 7 failed | builtins.ValueError at test_logs.py:" in line
    assert "张三" not in line and "收到" not in line and TOKEN not in line


def test_with_v_plain_lines_carry_the_whole_traceback_redacted() -> None:
    text = PlainFormatter(verbose=True, redact=redactor()).format(record_with_error("update failed"))
    assert "Traceback (most recent call last)" in text and "ValueError: user text" in text
    assert TOKEN not in text and "<token>" in text


def test_json_lines_are_one_object_each_with_the_error_briefly() -> None:
    line = JsonFormatter(verbose=False, redact=redactor()).format(record_with_error("call to %s", f"bot{TOKEN}"))
    assert "\n" not in line
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message", "error"}
    assert entry["time"].endswith("Z") and entry["level"] == "ERROR" and entry["logger"] == "jianfu.test"
    assert entry["message"] == "call to bot<token>"
    assert entry["error"].startswith("builtins.ValueError at test_logs.py:")
    assert TOKEN not in line and "张三" not in line


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_configure_installs_one_handler_in_the_chosen_format(restore_root_logging, capsys) -> None:
    logs.configure(level="WARNING", format="plain")
    logs.configure(level="INFO", format="json")
    ours = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler.formatter, PlainFormatter | JsonFormatter)
    ]
    assert len(ours) == 1 and logs.uses_json()
    logging.getLogger("jianfu.test").info("hello %s", "there")
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["message"] == "hello there"
    assert logging.getLogger().level == logging.INFO
    # Libraries that would log content stay at INFO or above even with -v.
    logs.configure(verbose=True)
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("telegram").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
