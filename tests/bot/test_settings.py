"""bot.toml loading: defaults, environment overrides, and errors that name the wrong key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings

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


def test_relative_sqlite_file_sits_next_to_the_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite+aiosqlite:///data/j.db"\n')
    assert load_settings(path).database.url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'j.db'}"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('timezone = "Mars/Olympus"', "timezone", "IANA time zone"),
        ('language = "fr"', "language", "'zh-CN' or 'en'"),
        ('[database]\nurl = "sqlite:///x.db"', "database.url", "async driver"),
        ("[telegram.webhook]\nport = 70000", "telegram.webhook.port", "less than or equal to 65535"),
        ('[telegram]\nmode = "carrier-pigeon"', "telegram.mode", "'polling' or 'webhook'"),
        ('[telegram]\nmode = "webhook"', "telegram", "needs telegram.webhook.url"),
        ('[telegram]\nmode = "webhook"\n[telegram.webhook]\nurl = "https://x.example/"', "telegram", "needs telegram.webhook.secret"),
        ('[telegram.webhook]\nurl = "http://plain"', "telegram.webhook.url", "https://"),
        ('[roles]\nsupervisors = ["alice"]', "roles.supervisors.0", "valid integer"),
        ("[roles]\nsupervisers = [1]", "roles.supervisers", "not a known setting"),
        ("[jobs]\nsweep_seconds = 0", "jobs.sweep_seconds", "greater than or equal to 1"),
        ("[telegram]\nread_timeout = 0", "telegram.read_timeout", "greater than 0"),
        ("[telegram]\nconnect_timeout = 301", "telegram.connect_timeout", "less than or equal to 300"),
    ],
)
def test_wrong_values_fail_naming_the_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    message = str(caught.value)
    assert f"  {key}: " in message
    assert expected in message
    assert str(tmp_path / "bot.toml") in message


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
