"""bot.toml loading: defaults, environment overrides, and errors that name the wrong key."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bot.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_bot_toml_loads_with_the_documented_defaults() -> None:
    settings = load_settings(ROOT / "bot.toml")
    assert settings.timezone == "Asia/Shanghai"
    assert settings.language == "zh-CN"
    assert settings.telegram.mode == "polling"
    assert settings.database.url == f"sqlite+aiosqlite:///{ROOT / 'jianfu.db'}"
    assert settings.roles.supervisors == ()
    assert (settings.telegram.connect_timeout, settings.telegram.read_timeout) == (5.0, 5.0)


def test_shipped_bot_toml_documents_every_key_with_its_default() -> None:
    with (ROOT / "bot.toml").open("rb") as handle:
        shipped = tomllib.load(handle)
    for path, field in leaf_keys(Settings):
        section = shipped
        for name in path[:-1]:
            section = section[name]
        assert path[-1] in section, ".".join(path)
        default = field.default.get_secret_value() if isinstance(field.default, SecretStr) else field.default
        written = section[path[-1]]
        assert (tuple(written) if isinstance(written, list) else written) == default, ".".join(path)


def test_no_file_means_defaults() -> None:
    settings = load_settings(None)
    assert settings.database.url == "sqlite+aiosqlite:///jianfu.db"


def test_environment_overrides_nested_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[telegram]\ntoken = "from-file"\n[roles]\nsupervisors = [1]\n')
    monkeypatch.setenv("JIANFU_TELEGRAM__TOKEN", "123:from-env")
    monkeypatch.setenv("JIANFU_ROLES__SUPERVISORS", "[5, 6]")
    monkeypatch.setenv("JIANFU_DATABASE__URL", "postgresql+asyncpg://u@127.0.0.1/j")
    settings = load_settings(path)
    assert settings.telegram.token.get_secret_value() == "123:from-env"
    assert settings.telegram.mode == "polling"
    assert settings.roles.supervisors == (5, 6)
    assert settings.database.url == "postgresql+asyncpg://u@127.0.0.1/j"


def test_the_action_logs_retention_is_90_days_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).audit.keep_days == 90
    monkeypatch.setenv("JIANFU_AUDIT__KEEP_DAYS", "30")
    assert load_settings(None).audit.keep_for == timedelta(days=30)


def test_relative_sqlite_file_sits_next_to_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite+aiosqlite:///data/j.db"\n')
    assert load_settings(path).database.url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'j.db'}"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('timezone = "Mars/Olympus"', "timezone", 'write an IANA time zone name, e.g. "Asia/Shanghai"'),
        ('language = "fr"', "language", 'write "zh-CN" or "en"'),
        (
            '[database]\nurl = "sqlite:///x.db"',
            "database.url",
            'write "sqlite+aiosqlite:///FILE" or "postgresql+asyncpg://',
        ),
        (
            "[telegram.webhook]\nport = 70000",
            "telegram.webhook.port",
            "write a whole number from 1 to 65535, e.g. 8443",
        ),
        ('[telegram]\nmode = "carrier-pigeon"', "telegram.mode", 'write "polling" or "webhook"'),
        ('[telegram]\nmode = "webhook"', "telegram.webhook.url", "webhook mode needs it: the public https:// address"),
        (
            '[telegram]\nmode = "webhook"\n[telegram.webhook]\nurl = "https://x.example/"',
            "telegram.webhook.secret",
            "webhook mode needs it: 1 to 256 characters from A-Z, a-z, 0-9, _ and -",
        ),
        ('[telegram.webhook]\nurl = "http://plain"', "telegram.webhook.url", "write the public https:// address"),
        ('[roles]\nsupervisors = ["alice"]', "roles.supervisors, item 1", "write a whole number, e.g. 123456789"),
        ("[roles]\nsupervisors = [-5]", "roles.supervisors", "write Telegram user ids, which are positive"),
        ("[roles]\nsupervisers = [1]", "roles.supervisers", "not a known setting"),
        ("[jobs]\nsweep_seconds = 0", "jobs.sweep_seconds", "write a whole number from 1 to 3600, e.g. 30"),
        (
            '[notices]\nquiet_start = "25:00"',
            "notices.quiet_start",
            'write a time as HH:MM (24-hour clock), e.g. "21:00"',
        ),
        ('[digest]\ntime = "9am"', "digest.time", 'write a time as HH:MM (24-hour clock), e.g. "09:00"'),
        ('[whistle]\nbatch_times = ["09:00", "9h"]', "whistle.batch_times, item 2", "write a time as HH:MM"),
        ("[whistle]\nbatch_times = []", "whistle.batch_times", 'write at least 1 item, e.g. ["09:00", "15:00"]'),
        (
            "[received]\ndemand_reply_expire_minutes = 0",
            "received.demand_reply_expire_minutes",
            "write a number above 0 up to 1440",
        ),
        ('[received]\nextra_ack_words = [" "]', "received.extra_ack_words", "none of them empty"),
        ('[notices]\ntags = "#通知"', "notices.tags", 'write a list in square brackets, e.g. ["#通知"'),
        (
            '[temporary]\nclosed_title_prefix = "' + "长" * 21 + '"',
            "temporary.closed_title_prefix",
            "write at most 20 characters",
        ),
        ('[digest]\nenabled = "maybe"', "digest.enabled", "write true or false, e.g. true"),
        ('[digest]\nchart_font = "/no/such/font.ttf"', "digest.chart_font", "write the path of a font file"),
        ('[telegram]\nbase_url = "https://api.telegram.org/bot"', "telegram.base_url", "without /bot"),
        ('[telegram.webhook]\npath = "a b"', "telegram.webhook.path", "write a URL path"),
        (
            '[telegram.webhook]\nlisten = "http://0.0.0.0"',
            "telegram.webhook.listen",
            "write an IP address to listen on",
        ),
        ("[health]\nport = 70000", "health.port", "write a whole number from 0 to 65535, e.g. 8090"),
        ('[health]\nlisten = "every interface"', "health.listen", "write an IP address to listen on"),
        ('[logging]\nformat = "xml"', "logging.format", 'write "plain" or "json"'),
        ('[logging]\nlevel = "loud"', "logging.level", 'write "DEBUG", "INFO", "WARNING" or "ERROR"'),
        ("telegram = 5", "telegram", "write a table of keys"),
        ("[telegram]\nread_timeout = 0", "telegram.read_timeout", "write a number above 0"),
        ("[telegram]\nconnect_timeout = 301", "telegram.connect_timeout", "write a number above 0 up to 300"),
    ],
)
def test_wrong_values_say_what_to_write_under_the_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    message = str(caught.value)
    assert f"\n  {key}: " in message
    assert expected in message
    assert str(tmp_path / "bot.toml") in message


def leaf_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], FieldInfo]]:
    """Every key of bot.toml with its field, walking the sections."""
    keys = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += leaf_keys(field.annotation, (*prefix, name))
        else:
            keys.append(((*prefix, name), field))
    return keys


def nested(path: tuple[str, ...], value: object) -> dict:
    for name in reversed(path):
        value = {name: value}
    return value  # type: ignore[return-value]


REGEX_LEFTOVERS = ("^", "$", "\\d", "[0-5]", "Input should", "String should", "pattern")


@pytest.mark.parametrize(
    ("path", "field"), leaf_keys(Settings), ids=lambda value: ".".join(value) if isinstance(value, tuple) else ""
)
def test_every_key_given_the_wrong_kind_of_value_says_what_to_write(path: tuple[str, ...], field: FieldInfo) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, **nested(path, {"not": "a value"}))
    lines = str(caught.value).splitlines()[1:-1]
    assert lines and all(line.startswith(f"  {'.'.join(path)}") for line in lines)
    for line in lines:
        assert ": write " in line, line
        assert not any(leftover in line for leftover in REGEX_LEFTOVERS), line


def bounded_numbers() -> list[tuple[tuple[str, ...], object]]:
    """Each numeric key with a value just outside its range."""
    cases = []
    for path, field in leaf_keys(Settings):
        for constraint in field.metadata:
            for name, step in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
                if hasattr(constraint, name):
                    cases.append((path, getattr(constraint, name) + step))
    return cases


@pytest.mark.parametrize(
    ("path", "value"), bounded_numbers(), ids=lambda value: ".".join(value) if isinstance(value, tuple) else str(value)
)
def test_every_number_out_of_range_names_the_range_and_an_example(path: tuple[str, ...], value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, **nested(path, value))
    line = str(caught.value).splitlines()[1]
    assert line.startswith(f"  {'.'.join(path)}: write a")
    assert " to " in line and "e.g. " in line


def test_webhook_secret_accepts_exactly_what_telegram_accepts(tmp_path: Path) -> None:
    allowed = "Az09_-" * 40 + "abcdefghijklmnop"  # 256 characters
    assert len(allowed) == 256
    assert (
        load_settings(None, telegram={"webhook": {"secret": allowed}}).telegram.webhook.secret.get_secret_value()
        == allowed
    )
    for wrong in ("a" * 257, "with space", "slash/", "点", "plus+", "dot."):
        with pytest.raises(ConfigError) as caught:
            load_settings(None, telegram={"webhook": {"secret": wrong}})
        assert "telegram.webhook.secret: write 1 to 256 characters" in str(caught.value)
        assert wrong not in str(caught.value)


def test_a_malformed_token_is_refused_without_echoing_it() -> None:
    for wrong in ('"123:ABC"', "123:ABC DEF", "ABC", "bot123:ABC"):
        with pytest.raises(ConfigError) as caught:
            load_settings(None, telegram={"token": wrong})
        assert "telegram.token: write the token exactly as @BotFather gave it" in str(caught.value)
        assert wrong.strip('"') not in str(caught.value)
    assert (
        load_settings(None, telegram={"token": "123456789:AAE-x_y\n"}).telegram.token.get_secret_value()
        == "123456789:AAE-x_y"
    )


def test_log_level_is_case_insensitive_and_health_can_be_turned_off() -> None:
    settings = load_settings(None, logging={"level": "debug", "format": "json"}, health={"port": 0})
    assert (settings.logging.level, settings.logging.format, settings.health.port) == ("DEBUG", "json", 0)


def test_health_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIANFU_HEALTH__PORT", "9115")
    assert load_settings(None).health.port == 9115


def test_invalid_toml_and_missing_file_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(write(tmp_path, "[telegram\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_token_never_appears_in_reprs_or_dumps(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[telegram]\ntoken = "123456:SECRET-TOKEN"\n'))
    assert "SECRET-TOKEN" not in repr(settings)
    assert "SECRET-TOKEN" not in str(settings.model_dump())
    assert "SECRET-TOKEN" not in settings.model_dump_json()
    assert settings.telegram.token.get_secret_value() == "123456:SECRET-TOKEN"
