"""The `jianfu` command: run | demo | explain | digest | replay | db upgrade | --version."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from telegram.error import InvalidToken, TelegramError

from bot import __version__
from bot.replay import cli as replay_command
from bot.settings import ConfigError, Settings, load_settings

EXIT_CONFIG = 2
DEFAULT_CONFIG = Path("bot.toml")

NO_TOKEN = """No Telegram bot token is configured, so Jianfu cannot connect.

1. In Telegram, talk to @BotFather: send /newbot and follow the steps; it answers with a token
   like 123456789:AA...
2. Put it in bot.toml under [telegram] as token = "...", or set the environment variable
   JIANFU_TELEGRAM__TOKEN (better: it keeps the secret out of files).
3. Run `jianfu run` again.

To see Jianfu work without a token, run `jianfu demo`."""


def main(argv: Sequence[str] | None = None) -> int:
    # Opt in to PTB 23 behaviour (retry_after as timedelta); Jianfu never reads the number.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"jianfu: {error}", file=sys.stderr)
        return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jianfu", description="Jianfu (减负): less fingertip formalism in work groups.")
    parser.add_argument("--version", action="version", version=f"jianfu {__version__}")
    parser.add_argument("--config", type=Path, help="path to bot.toml (default: ./bot.toml when it exists)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (polling, or webhook when configured)")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="run the real bot offline against the in-memory Telegram double")
    demo.add_argument("--language", choices=["zh-CN", "en"], default=None, help="language of the scripted people")
    demo.set_defaults(handler=_demo)

    explain = commands.add_parser(
        "explain", help="show how the \"received\" rule judges messages (arguments, or one per line on stdin)"
    )
    explain.add_argument("messages", nargs="*", help="messages to judge; none means read stdin")
    explain.add_argument("--json", action="store_true", help="one JSON object per line")
    explain.add_argument("--sender", default="", help="the sender's display name (so '王芳收到' from 王芳 counts)")
    explain.set_defaults(handler=_explain)

    digest = commands.add_parser("digest", help="render the supervisors' weekly digest from the configured database")
    digest.add_argument("--week", default="", help="e.g. 2026-W47, or 'this' for this week so far (default: last week)")
    digest.add_argument("--out", type=Path, help="write the chart to this PNG file")
    digest.add_argument("--language", choices=["zh-CN", "en"], default=None, help="default: bot.toml's language")
    digest.set_defaults(handler=_digest)

    replay_command.add_parser(commands)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply pending migrations")
    upgrade.set_defaults(handler=_db_upgrade)
    current = db_commands.add_parser("current", help="print the database's migration revision")
    current.set_defaults(handler=_db_current)
    return parser


def settings_from(args: argparse.Namespace, **overrides: object) -> Settings:
    """bot.toml from --config, else ./bot.toml when present, else defaults; env overrides apply."""
    path = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    return load_settings(path, **overrides)


def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not settings.telegram.token.get_secret_value():
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    _install_token_filter(settings.telegram.token.get_secret_value())
    asyncio.run(_upgrade(settings))
    from bot.app import build_application

    app = build_application(settings)
    try:
        _serve(app, settings)
    except InvalidToken:
        # PTB's message quotes the token: say what happened without it.
        print("jianfu: Telegram rejected the bot token. Check it with @BotFather (/token) and set it again.", file=sys.stderr)
        return EXIT_CONFIG
    except TelegramError as error:
        print(f"jianfu: Telegram refused to start the bot: {redact(str(error), settings)}", file=sys.stderr)
        return 1
    return 0


def redact(text: str, settings: Settings) -> str:
    token = settings.telegram.token.get_secret_value()
    return text.replace(token, "<token>") if token else text


def _serve(app: object, settings: Settings) -> None:
    from bot.app import ALLOWED_UPDATES

    telegram = settings.telegram
    if telegram.mode == "webhook":
        hook = telegram.webhook
        app.run_webhook(
            listen=hook.listen,
            port=hook.port,
            url_path=hook.path,
            webhook_url=f"{hook.url.rstrip('/')}/{hook.path}",
            secret_token=hook.secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        app.run_polling(allowed_updates=ALLOWED_UPDATES)


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(language=args.language))


def _explain(args: argparse.Namespace) -> int:
    from bot.context import Deps
    from bot.explain import explain_lines

    settings = settings_from(args)
    rule = Deps.create(settings).received_rule
    messages = args.messages or [line.rstrip("\n") for line in sys.stdin]
    for line in explain_lines(rule, messages, as_json=args.json, sender=args.sender):
        print(line)
    return 0


def _digest(args: argparse.Namespace) -> int:
    from bot.reports import render_offline

    settings = settings_from(args)
    return asyncio.run(render_offline(settings, args.week, language=args.language or settings.language, out=args.out))


def _db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    revision = asyncio.run(_upgrade(settings))
    print(f"database is at revision {revision}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from storage.db import create_engine
    from storage.migrate import current_revision

    async def current() -> str | None:
        engine = create_engine(settings_from(args).database.url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    print(asyncio.run(current()) or "empty (no migrations applied)")
    return 0


async def _upgrade(settings: Settings) -> str | None:
    from storage.db import create_engine
    from storage.migrate import current_revision, upgrade

    engine = create_engine(settings.database.url)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


class TokenFilter(logging.Filter):
    """Replace the bot token wherever a log line would carry it (library URLs, reprs)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            message = record.getMessage()
            if self.token in message:
                record.msg, record.args = message.replace(self.token, "<token>"), None
        return True


def _install_token_filter(token: str) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(TokenFilter(token))


def keep_content_out_of_library_logs(level: int) -> None:
    """Libraries that log user content or secrets at DEBUG never go below INFO here."""
    # httpx logs every request URL, and Telegram URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # At DEBUG, PTB logs every Bot API call with its parameters and results (message text,
    # names); aiosqlite logs every statement with its values (user ids, notices). Jianfu keeps
    # content out of logs (a whistleblower's id above all), so these stay at INFO or above.
    for library in ("telegram", "aiosqlite", "asyncpg"):
        logging.getLogger(library).setLevel(max(level, logging.INFO))


def _configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("JIANFU_LOG_LEVEL", "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keep_content_out_of_library_logs(level)
    if not verbose:
        # Start-up chatter from migrations and the scheduler says nothing an operator acts on.
        for chatty in ("alembic", "apscheduler"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())
