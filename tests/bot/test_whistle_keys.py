"""The whistle keys: the same on every replica, from [whistle] secret or the bot token; drafts
named without the id in clear and sealed so that a changed or moved row is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings
from bot.whistle_keys import MissingSecret, WhistleKeys

TOKEN = "123456:TOKEN-of-the-bot"
SECRET = "a-shared-secret-of-32-characters"
PERSON = 987654321987


def keys(**whistle: str) -> WhistleKeys:
    return WhistleKeys.from_settings(load_settings(None, telegram={"token": TOKEN}, whistle=whistle))


def test_two_replicas_with_one_configuration_derive_the_same_keys() -> None:
    assert keys() == keys()
    assert keys(secret=SECRET) == keys(secret=SECRET)
    assert keys().draft_name(PERSON) == keys().draft_name(PERSON)


def test_the_whistle_secret_wins_over_the_bot_token() -> None:
    from_token, from_secret = keys(), keys(secret=SECRET)
    assert from_token.naming != from_secret.naming and from_token.sealing != from_secret.sealing
    assert from_token.limits != from_secret.limits
    # Changing the token leaves keys from a dedicated secret alone.
    other_token = load_settings(None, telegram={"token": "999:OTHER"}, whistle={"secret": SECRET})
    assert WhistleKeys.from_settings(other_token) == from_secret


def test_the_three_keys_are_independent() -> None:
    derived = keys()
    assert len({derived.naming, derived.sealing, derived.limits}) == 3
    assert all(len(key) == 32 for key in (derived.naming, derived.sealing, derived.limits))


def test_without_secret_or_token_there_are_no_keys() -> None:
    with pytest.raises(MissingSecret, match="secret or the bot token"):
        WhistleKeys.from_settings(load_settings(None))


def test_a_draft_name_is_a_keyed_hash_not_the_id() -> None:
    name = keys().draft_name(PERSON)
    assert len(name) == 64 and int(name, 16) >= 0
    assert str(PERSON) not in name
    assert name != keys(secret=SECRET).draft_name(PERSON)
    assert name != keys().draft_name(PERSON + 1)


def test_sealed_content_reads_back_only_with_its_key_and_name() -> None:
    derived, name = keys(), keys().draft_name(PERSON)
    sealed = derived.seal(name, "民政局每周让我们重复填报".encode())
    assert "民政局".encode() not in sealed
    assert derived.unseal(name, sealed) == "民政局每周让我们重复填报".encode()
    # Another person's row, another secret, a changed byte, an unknown scheme: refused.
    assert derived.unseal(derived.draft_name(PERSON + 1), sealed) is None
    assert keys(secret=SECRET).unseal(name, sealed) is None
    changed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert derived.unseal(name, changed) is None
    assert derived.unseal(name, b"\x02" + sealed[1:]) is None
    assert derived.unseal(name, b"") is None


def test_sealing_twice_gives_different_bytes() -> None:
    derived = keys()
    name = derived.draft_name(PERSON)
    assert derived.seal(name, b"same") != derived.seal(name, b"same")


def test_keys_never_show_in_a_repr() -> None:
    derived = keys()
    assert derived.naming.hex() not in repr(derived) and str(derived.naming) not in repr(derived)


def test_the_secret_comes_from_the_environment_and_stays_out_of_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIANFU_WHISTLE__SECRET", SECRET)
    settings = load_settings(None, telegram={"token": TOKEN})
    assert settings.whistle.secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in settings.model_dump_json()
    assert WhistleKeys.from_settings(settings) == keys(secret=SECRET)


def test_a_short_secret_is_refused_without_repeating_it(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[whistle]\nsecret = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "  whistle.secret: write at least 16 characters" in message and "hunter2" not in message


@pytest.mark.parametrize("buckets", [0, 2**14 + 1])
def test_limit_buckets_out_of_range_are_refused(buckets: int) -> None:
    with pytest.raises(ConfigError, match=r"whistle\.limit_buckets"):
        load_settings(None, whistle={"limit_buckets": buckets})
