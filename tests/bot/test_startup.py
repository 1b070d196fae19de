"""The real `jianfu` process at start-up: one clear line per failure, secrets never printed,
and a running bot that announces itself and serves /healthz and /metrics in both modes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot import cli
from bot.testing.loopback_api import BOT_USERNAME, LoopbackBotApi
from tests.storage.test_migrations import HEAD

TOKEN = "987654321:AAHsecretPART-of_the_token42"
SECRET_PART = TOKEN.partition(":")[2]
DB_PASSWORD = "db-pass-Kx81"
WEBHOOK_SECRET = "hook_Secret-1234567890"
# A running bot gets this long to come up, answer, and stop; polled, never slept through.
DEADLINE_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without any JIANFU_ setting, plus `variables`."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("JIANFU_")}
    return clean | {"PTB_TIMEDELTA": "1"} | variables


def jianfu(*args: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line to its end."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=environment(**variables),
        capture_output=True, text=True, timeout=DEADLINE_SECONDS,
    )  # fmt: skip


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        for secret in (TOKEN, SECRET_PART, DB_PASSWORD, WEBHOOK_SECRET):
            assert secret not in output


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    assert expected in lines[0]
    return lines[0]


@pytest.fixture
def rejecting_api() -> Iterator[LoopbackBotApi]:
    with LoopbackBotApi(reject_token=True).running() as api:
        yield api


@pytest.fixture
def bot_api() -> Iterator[LoopbackBotApi]:
    with LoopbackBotApi().running() as api:
        yield api


# --- failures: one line, an exit code, nothing secret ------------------------------------------


def test_a_rejected_token_is_one_line_and_never_printed(tmp_path: Path, rejecting_api: LoopbackBotApi) -> None:
    path = config(tmp_path, f'[telegram]\nbase_url = "{rejecting_api.url}"\n')
    result = jianfu("--config", str(path), "run", cwd=tmp_path, JIANFU_TELEGRAM__TOKEN=TOKEN)
    assert result.returncode == 2
    assert_one_line(result, "jianfu: Telegram rejected the bot token: check it with @BotFather")
    assert_no_secret(result.stdout, result.stderr)
    assert rejecting_api.methods() == ["getMe"]


def test_with_v_the_traceback_is_shown_with_the_token_redacted(tmp_path: Path, rejecting_api: LoopbackBotApi) -> None:
    path = config(tmp_path, f'[telegram]\nbase_url = "{rejecting_api.url}"\n')
    result = jianfu("run", "-v", "--config", str(path), cwd=tmp_path, JIANFU_TELEGRAM__TOKEN=TOKEN)
    assert result.returncode == 2
    assert "Telegram rejected the bot token" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr and "telegram.error.InvalidToken" in result.stderr
    assert "<token>" in result.stderr  # PTB's message quotes the token: it is there, redacted
    assert_no_secret(result.stdout, result.stderr)


def test_in_json_logs_the_failure_is_one_json_record(tmp_path: Path, rejecting_api: LoopbackBotApi) -> None:
    path = config(tmp_path, f'[telegram]\nbase_url = "{rejecting_api.url}"\n[logging]\nformat = "json"\n')
    result = jianfu("run", "--config", str(path), cwd=tmp_path, JIANFU_TELEGRAM__TOKEN=TOKEN)
    assert result.returncode == 2
    record = json.loads(assert_one_line(result, "rejected the bot token"))
    assert record["level"] == "CRITICAL" and record["message"].startswith("Telegram rejected the bot token")
    assert_no_secret(result.stdout, result.stderr)


def test_an_unreachable_bot_api_is_one_line(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    path = config(tmp_path, f'[telegram]\nbase_url = "{server}"\n')
    result = jianfu("run", "--config", str(path), cwd=tmp_path, JIANFU_TELEGRAM__TOKEN=TOKEN)
    assert result.returncode == 4
    assert_one_line(result, f"jianfu: cannot reach the Telegram Bot API at {server} (")
    assert "check the network, DNS and any proxy" in result.stderr
    assert_no_secret(result.stderr)


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path, bot_api: LoopbackBotApi) -> None:
    port = free_port()
    url = f"postgresql+asyncpg://jianfu:{DB_PASSWORD}@127.0.0.1:{port}/jianfu"
    path = config(tmp_path, f'[telegram]\nbase_url = "{bot_api.url}"\n')
    result = jianfu("run", "--config", str(path), cwd=tmp_path, JIANFU_TELEGRAM__TOKEN=TOKEN, JIANFU_DATABASE__URL=url)
    assert result.returncode == 3
    line = assert_one_line(
        result, f"jianfu: cannot use the database postgresql+asyncpg://jianfu:***@127.0.0.1:{port}/jianfu"
    )
    assert "connect call failed" in line and "check that PostgreSQL runs" in line
    assert_no_secret(result.stderr)
    assert bot_api.calls == []  # the database is checked first


def test_a_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    path = config(tmp_path, '[database]\nurl = "sqlite+aiosqlite:///data/jianfu.db"\n')
    result = jianfu("run", "--config", str(path), cwd=tmp_path, JIANFU_TELEGRAM__TOKEN=TOKEN)
    assert result.returncode == 3
    assert_one_line(result, f"jianfu: the folder {tmp_path / 'data'} for the SQLite database does not exist: create it")
    assert not (tmp_path / "data").exists()


def test_a_webhook_secret_telegram_would_refuse_stops_at_start(tmp_path: Path) -> None:
    path = config(tmp_path, '[telegram]\nmode = "webhook"\n[telegram.webhook]\nurl = "https://bot.example.org"\n')
    wrong = "hook secret with spaces"
    result = jianfu(
        "run", "--config", str(path), cwd=tmp_path, JIANFU_TELEGRAM__TOKEN=TOKEN, JIANFU_TELEGRAM__WEBHOOK__SECRET=wrong
    )
    assert result.returncode == 2
    assert "telegram.webhook.secret: write 1 to 256 characters from A-Z, a-z, 0-9, _ and -" in result.stderr
    assert wrong not in result.stderr and "Traceback" not in result.stderr


def test_a_taken_webhook_port_is_explained(tmp_path: Path, bot_api: LoopbackBotApi) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = f'[telegram]\nbase_url = "{bot_api.url}"\nmode = "webhook"\n[health]\nport = 0\n'
        path = config(tmp_path, f'{settings}[telegram.webhook]\nurl = "https://bot.example.org"\nport = {port}\n')
        variables = {"JIANFU_TELEGRAM__TOKEN": TOKEN, "JIANFU_TELEGRAM__WEBHOOK__SECRET": WEBHOOK_SECRET}
        result = jianfu("run", "--config", str(path), cwd=tmp_path, **variables)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"jianfu: cannot listen on 127.0.0.1:{port} for Telegram's webhook (address already in use): "
        "change [telegram.webhook] port"
    )
    assert "Traceback" not in result.stderr
    assert_no_secret(result.stderr)


def test_a_database_migrated_by_a_newer_version_says_so(tmp_path: Path, capsys) -> None:
    path = config(tmp_path, "")
    assert cli.main(["db", "upgrade", "--config", str(path)]) == 0
    with sqlite3.connect(tmp_path / "jianfu.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    capsys.readouterr()
    assert cli.main(["db", "upgrade", "--config", str(path)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "was migrated by a newer version of Jianfu: run `jianfu db downgrade" in err


# --- --config after the command, db history and downgrade ---------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["demo"],
        ["explain", "收到"],
        ["digest"],
        ["db", "upgrade"],
        ["db", "current"],
        ["db", "history"],
        ["db", "downgrade", "0005"],
    ],
    ids=" ".join,
)
def test_config_and_verbose_work_before_and_after_the_command(command: list[str]) -> None:
    parser = cli._parser()
    placements = [
        ["--config", "x.toml", "-v", *command],
        [*command, "--config", "x.toml", "-v"],
        [command[0], "--config", "x.toml", *command[1:], "-v"],
    ]
    for argv in placements:
        args = parser.parse_args(argv)
        assert (args.config, args.verbose) == (Path("x.toml"), True), argv
    plain = parser.parse_args(command)
    assert (plain.config, plain.verbose) == (None, False)


def test_db_history_and_a_downgrade_that_asks_first(tmp_path: Path, capsys) -> None:
    path = str(config(tmp_path, ""))
    assert cli.main(["db", "history", "--config", path]) == 0
    history = capsys.readouterr().out.splitlines()
    assert history[0].startswith("0001  ") and history[-1].startswith(f"{HEAD}  ")
    assert cli.main(["db", "upgrade", "--config", path]) == 0
    capsys.readouterr()

    assert cli.main(["db", "downgrade", "0004", "--config", path]) == 2
    out = capsys.readouterr().out
    listed = out.split("This would undo, newest first:\n", 1)[1].splitlines()
    undone = [line.split()[0] for line in listed if line.startswith("  ")]
    assert undone == [f"{n:04d}" for n in range(int(HEAD), 4, -1)] and "--yes" in out
    assert "  0006  inbox indexes" in listed and "  0005  whistle reports" in listed
    assert cli.main(["db", "current", "--config", path]) == 0
    assert capsys.readouterr().out.strip() == HEAD

    assert cli.main(["db", "downgrade", "0004", "--yes", "--config", path]) == 0
    assert "database is at revision 0004" in capsys.readouterr().out
    assert cli.main(["db", "current", "--config", path]) == 0
    assert capsys.readouterr().out.strip() == "0004"
    assert cli.main(["db", "upgrade", "--config", path]) == 0
    assert f"revision {HEAD}" in capsys.readouterr().out

    assert cli.main(["db", "downgrade", "0042", "--yes", "--config", path]) == 2
    assert "not a revision this version knows" in capsys.readouterr().err


# --- a running bot -----------------------------------------------------------------------------


def wait_for(condition: Callable[[], object], what: str) -> object:
    """Poll `condition` until it returns something truthy, within the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        try:
            result = condition()
        except httpx.TransportError:
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def message_update(update_id: int) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 10 + update_id, "date": int(time.time()), "text": "今天下午三点开会",
            "chat": {"id": -1009876500001, "type": "supergroup", "title": "朝阳社区工作群"},
            "from": {"id": 3001, "is_bot": False, "first_name": "张三"},
        },
    }  # fmt: skip


def updates_counted(health: str) -> float:
    text = httpx.get(f"{health}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith('jianfu_updates_total{type="message"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def stop_process() -> Iterator[Callable[[subprocess.Popen[str]], tuple[int, str]]]:
    started: list[subprocess.Popen[str]] = []

    def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
        started.append(process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=DEADLINE_SECONDS)
        return process.returncode, err

    yield stop
    for process in started:
        if process.poll() is None:
            process.kill()


def start(tmp_path: Path, settings: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    health_port = free_port()
    path = config(tmp_path, f"{settings}\n[health]\nport = {health_port}\n[digest]\nenabled = false\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(path), *args], cwd=tmp_path,
        env=environment(JIANFU_TELEGRAM__TOKEN=TOKEN, JIANFU_TELEGRAM__WEBHOOK__SECRET=WEBHOOK_SECRET),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{health_port}"


def assert_announced(err: str, mode: str, tmp_path: Path) -> None:
    assert (
        f"Jianfu starting as @{BOT_USERNAME} in {mode} mode; database sqlite+aiosqlite:///{tmp_path / 'jianfu.db'}"
        in err
    )
    assert "0 supervisor(s); privacy mode on" in err
    assert "WARNING jianfu.startup: no supervisors are configured" in err
    assert "Traceback" not in err
    assert_no_secret(err)


def test_polling_announces_itself_serves_health_and_counts_updates(
    tmp_path: Path, bot_api: LoopbackBotApi, stop_process
) -> None:
    process, health = start(tmp_path, f'[telegram]\nbase_url = "{bot_api.url}"')
    try:
        wait_for(lambda: httpx.get(f"{health}/healthz", timeout=5).status_code == 200, "/healthz to answer 200")
        body = httpx.get(f"{health}/healthz", timeout=5).json()
        assert body["checks"]["updates"]["receiving"] is True and body["checks"]["database"]["ok"] is True
        bot_api.push_update(message_update(1))
        wait_for(lambda: updates_counted(health) == 1, "the update to be counted")
    finally:
        code, err = stop_process(process)
    assert code == 0, err
    assert_announced(err, "polling", tmp_path)
    assert "getUpdates" in bot_api.methods() and "setMyCommands" in bot_api.methods()


def test_webhook_mode_serves_health_and_counts_updates(tmp_path: Path, bot_api: LoopbackBotApi, stop_process) -> None:
    hook_port = free_port()
    settings = (
        f'[telegram]\nbase_url = "{bot_api.url}"\nmode = "webhook"\n'
        f'[telegram.webhook]\nurl = "https://bot.example.org"\nport = {hook_port}\n'
    )
    process, health = start(tmp_path, settings)
    hook = f"http://127.0.0.1:{hook_port}/telegram"
    try:
        wait_for(lambda: httpx.get(f"{health}/healthz", timeout=5).status_code == 200, "/healthz to answer 200")
        refused = httpx.post(
            hook, json=message_update(1), headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}, timeout=5
        )
        assert refused.status_code == 403
        accepted = httpx.post(
            hook, json=message_update(2), headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}, timeout=5
        )
        assert accepted.status_code == 200
        wait_for(lambda: updates_counted(health) == 1, "the update to be counted")
    finally:
        code, err = stop_process(process)
    assert code == 0, err
    assert_announced(err, "webhook", tmp_path)
    webhook = next(params for method, params in bot_api.calls if method == "setWebhook")
    assert webhook["url"] == "https://bot.example.org/telegram" and webhook["secret_token"] == WEBHOOK_SECRET
