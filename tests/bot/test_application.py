"""The composition root: wiring, command menus, webhook over loopback, and the CLI."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.pool import StaticPool

from bot import cli, logs
from bot.app import ALLOWED_UPDATES, build_application
from bot.context import POOL_HEADROOM, Deps
from bot.menus import publish_commands
from bot.ratelimit import SendingRateLimiter
from bot.testing.fake import FakeTelegram
from bot.testing.loopback_api import LoopbackBotApi
from bot.testing.updates import as_json
from storage.db import Database
from storage.models import Base, Person
from tests.bot.conftest import MEMBER, SUPERVISOR, TOKEN, Harness, build_world, make_settings
from tests.storage.test_migrations import HEAD


def test_allowed_updates_list_every_type_the_features_need() -> None:
    assert set(ALLOWED_UPDATES) == {
        "message",
        "edited_message",
        "callback_query",
        "chat_member",
        "my_chat_member",
        "message_reaction",
        "message_reaction_count",
    }


def test_rate_limiter_with_retries_is_wired_when_enabled(tmp_path: Path) -> None:
    settings = make_settings(telegram={"token": "1:x", "rate_limit": {"enabled": True, "max_retries": 4}})
    app = build_application(
        settings, Deps.create(settings, db=Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    )
    limiter = app.bot.rate_limiter
    assert isinstance(limiter, SendingRateLimiter)
    assert limiter._max_retries == 4
    assert app.job_queue.get_jobs_by_name("sweep") and app.job_queue.get_jobs_by_name("idle_scan")
    assert app.job_queue.get_jobs_by_name("forget_old_records")


def test_the_connection_pool_holds_one_connection_per_chat_committed_at_once(tmp_path: Path) -> None:
    # A smaller pool opens and closes a connection per transaction beyond it (a PostgreSQL
    # server process each time).
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    settings = make_settings(database={"url": url}, updates={"concurrent_chats": 12})
    assert Deps.create(settings).db.engine.pool.size() == 12 + POOL_HEADROOM


def test_an_in_memory_sqlite_database_keeps_its_single_connection() -> None:
    settings = make_settings(database={"url": "sqlite+aiosqlite:///:memory:"})
    assert isinstance(Deps.create(settings).db.engine.pool, StaticPool)  # no pool_size for it to refuse


def test_base_url_points_at_a_self_hosted_bot_api(tmp_path: Path) -> None:
    settings = make_settings(telegram={"token": "1:x", "base_url": "http://127.0.0.1:8081/"})
    app = build_application(
        settings, Deps.create(settings, db=Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    )
    assert app.bot.base_url == "http://127.0.0.1:8081/bot1:x"


async def test_command_menus_are_published_per_audience_and_language(harness: Harness) -> None:
    await harness.private(SUPERVISOR, "/start")
    await publish_commands(harness.app.bot, harness.deps, [SUPERVISOR])
    menus = {
        (json.dumps(call["scope"], sort_keys=True), call.get("language_code")): [c["command"] for c in call["commands"]]
        for call in harness.fake.calls_to("setMyCommands")
    }
    private, groups = '{"type": "all_private_chats"}', '{"type": "all_group_chats"}'
    admins = '{"type": "all_chat_administrators"}'
    supervisor = json.dumps({"chat_id": SUPERVISOR, "type": "chat"})
    for language in (None, "en"):
        assert menus[(private, language)] == ["start", "help", "lang", "inbox", "log", "whistle", "status", "cancel"]
        assert menus[(groups, language)] == ["help", "rules", "status", "notice", "urgent", "readers"]
        assert menus[(admins, language)] == [
            "help",
            "rules",
            "status",
            "notice",
            "urgent",
            "readers",
            "register",
            "set",
            "temp",
            "done",
            "reopen",
            "extend",
            "lang",
        ]
        assert menus[(supervisor, language)] == [
            "start",
            "help",
            "lang",
            "inbox",
            "log",
            "whistle",
            "status",
            "cancel",
            "dept",
            "groups",
            "whistles",
            "digest",
            "grant",
            "revoke",
        ]
        # /whistle is private only: no menu a group shows offers it.
        assert "whistle" not in menus[(groups, language)] + menus[(admins, language)]
    described = {
        call.get("language_code"): {c["command"]: c["description"] for c in call["commands"]}
        for call in harness.fake.calls_to("setMyCommands")
        if call["scope"] == {"type": "all_private_chats"}
    }
    assert described[None]["help"] == "命令说明"
    assert described["en"]["help"] == "What the commands do"
    assert described["en"]["status"] == "Follow up a report by its receipt code"  # not the group's /status
    assert len(menus) == 8  # 4 audiences x 2 languages


async def test_granted_supervisors_get_the_menu_and_lose_it_on_revoke(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await harness.private(SUPERVISOR, f"/grant {MEMBER}")
    scoped = [c for c in harness.fake.calls_to("setMyCommands") if c["scope"] == {"type": "chat", "chat_id": MEMBER}]
    assert len(scoped) == 2 and "dept" in [c["command"] for c in scoped[0]["commands"]]
    await harness.private(SUPERVISOR, f"/revoke {MEMBER}")
    removed = [
        c for c in harness.fake.calls_to("deleteMyCommands") if c["scope"] == {"type": "chat", "chat_id": MEMBER}
    ]
    assert len(removed) == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_for(condition, timeout: float = 10.0) -> None:
    """Wait for work done by the webhook server's tasks (loopback I/O, not the clock under test)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_webhook_mode_answers_200_only_after_the_update_committed(database_url: str, clock) -> None:
    fake = FakeTelegram(clock=clock)
    build_world(fake)
    port = free_port()
    webhook = {"url": "https://bot.example.org/", "secret": "s3cret-token", "listen": "127.0.0.1", "port": port}
    settings = make_settings(
        telegram={"token": TOKEN, "rate_limit": {"enabled": False}, "mode": "webhook", "webhook": webhook}
    )
    db = Database.from_url(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    app = build_application(settings, Deps.create(settings, db=db, clock=clock, request=fake))
    from bot.runner import serve
    from bot.testing.updates import UpdateFactory

    updates = UpdateFactory(fake, app.bot)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(app, settings, stop=stop))
    await wait_for(lambda: fake.webhook["url"] == "https://bot.example.org/telegram")
    url = f"http://127.0.0.1:{port}/telegram"
    started = as_json(updates.private(MEMBER, "/start"))
    try:
        async with httpx.AsyncClient() as client:
            refused = await client.post(url, json=started, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            garbled = await client.post(url, content=b"{", headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
            assert (refused.status_code, garbled.status_code) == (403, 400)
            async with db.transaction() as session:
                assert await session.get(Person, MEMBER) is None
            accepted = await client.post(url, json=started, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
            assert accepted.status_code == 200
            # Answered 200 means committed: what the update recorded is there already.
            async with db.transaction() as session:
                assert (await session.get(Person, MEMBER)).has_private_chat is True
            # Telegram retrying the same update changes nothing and is answered 200 too.
            again = await client.post(url, json=started, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"})
            assert again.status_code == 200
        await wait_for(lambda: len(fake.sent(MEMBER)) == 2)
    finally:
        stop.set()
        await running
    await db.dispose()
    assert fake.webhook["allowed_updates"] == ALLOWED_UPDATES
    assert "减负助手" in fake.sent(MEMBER)[0]["text"] and len(fake.sent(MEMBER)) == 2


# CLI ------------------------------------------------------------------------------------------


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(f'[database]\nurl = "sqlite+aiosqlite:///jianfu.db"\n{extra}', encoding="utf-8")
    return path


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("jianfu ")


def test_run_without_a_token_explains_where_to_get_one(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("JIANFU_TELEGRAM__TOKEN", raising=False)
    assert cli.main(["--config", str(write_config(tmp_path)), "run"]) == 2
    message = capsys.readouterr().err
    assert "@BotFather" in message and "JIANFU_TELEGRAM__TOKEN" in message and "bot.toml" in message
    assert not (tmp_path / "jianfu.db").exists()


def test_a_wrong_config_value_exits_2_naming_the_key(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path, "[telegram.webhook]\nport = 0\n")
    assert cli.main(["--config", str(path), "db", "upgrade"]) == 2
    assert "telegram.webhook.port" in capsys.readouterr().err


def test_db_upgrade_and_current(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path)
    assert cli.main(["--config", str(path), "db", "current"]) == 0
    assert "empty" in capsys.readouterr().out
    assert cli.main(["--config", str(path), "db", "upgrade"]) == 0
    assert f"revision {HEAD}" in capsys.readouterr().out
    assert (tmp_path / "jianfu.db").exists()
    assert cli.main(["--config", str(path), "db", "current"]) == 0
    assert capsys.readouterr().out.strip() == HEAD


def run_captured(monkeypatch) -> dict:
    captured: dict = {}

    async def serve(app, settings, **_kwargs) -> None:
        captured.update(app=app, settings=settings)

    monkeypatch.setattr("bot.runner.serve", serve)
    return captured


@pytest.fixture
def bot_api() -> Iterator[LoopbackBotApi]:
    with LoopbackBotApi().running() as api:
        yield api


def test_run_migrates_then_serves(tmp_path: Path, monkeypatch, bot_api: LoopbackBotApi) -> None:
    captured = run_captured(monkeypatch)
    path = write_config(tmp_path, f'[telegram]\ntoken = "123:ABC"\nbase_url = "{bot_api.url}"\n')
    assert cli.main(["--config", str(path), "run"]) == 0
    assert captured["settings"].telegram.mode == "polling"
    assert (tmp_path / "jianfu.db").exists()


def test_run_talks_to_telegram_with_the_configured_timeouts(
    tmp_path: Path, monkeypatch, bot_api: LoopbackBotApi
) -> None:
    captured = run_captured(monkeypatch)
    path = write_config(
        tmp_path,
        f'[telegram]\ntoken = "123:ABC"\nbase_url = "{bot_api.url}"\nconnect_timeout = 0.5\nread_timeout = 1.5\n',
    )
    assert cli.main(["--config", str(path), "run"]) == 0
    assert captured["app"].bot.request.read_timeout == 1.5


def test_run_in_webhook_mode_takes_url_and_secret(tmp_path: Path, monkeypatch, bot_api: LoopbackBotApi) -> None:
    captured = run_captured(monkeypatch)
    monkeypatch.setenv("JIANFU_TELEGRAM__WEBHOOK__SECRET", "from-env")
    path = write_config(
        tmp_path,
        f'[telegram]\ntoken = "123:ABC"\nmode = "webhook"\nbase_url = "{bot_api.url}"\n'
        '[telegram.webhook]\nurl = "https://bot.example.org/"\nport = 9000\n',
    )
    assert cli.main(["--config", str(path), "run"]) == 0
    hook = captured["settings"].telegram.webhook
    assert (hook.url, hook.secret.get_secret_value(), hook.listen, hook.port, hook.path) == (
        "https://bot.example.org/",
        "from-env",
        "127.0.0.1",
        9000,
        "telegram",
    )


def test_a_rejected_token_is_explained_without_printing_it(tmp_path: Path, monkeypatch, capsys) -> None:
    polled = run_captured(monkeypatch)
    with LoopbackBotApi(reject_token=True).running() as api:
        path = write_config(tmp_path, f'[telegram]\ntoken = "123:SECRET-ABC"\nbase_url = "{api.url}"\n')
        assert cli.main(["--config", str(path), "run"]) == 2
    captured = capsys.readouterr()
    assert "SECRET-ABC" not in captured.err + captured.out
    assert "Telegram rejected the bot token" in captured.err
    assert api.methods() == ["getMe"] and not polled


def test_an_unparsable_environment_value_is_explained(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("JIANFU_ROLES__SUPERVISORS", "123,456")
    assert cli.main(["--config", str(write_config(tmp_path)), "db", "current"]) == 2
    assert "JIANFU_ROLES__SUPERVISORS='[123, 456]'" in capsys.readouterr().err


def test_debug_logging_never_lets_ptb_log_message_content() -> None:
    import logging

    logs.configure(verbose=True)
    assert logging.getLogger("telegram").getEffectiveLevel() >= logging.INFO
    assert logging.getLogger("telegram.ext.ExtBot").isEnabledFor(logging.DEBUG) is False


async def test_start_up_publishes_menus_for_configured_and_granted_supervisors(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await harness.private(SUPERVISOR, f"/grant {MEMBER}")
    harness.fake.reset_calls()
    await harness.app.post_init(harness.app)
    chats = {c["scope"].get("chat_id") for c in harness.fake.calls_to("setMyCommands") if c["scope"]["type"] == "chat"}
    assert chats == {SUPERVISOR, MEMBER}
