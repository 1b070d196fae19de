"""The `jianfu` command: run | demo | explain | digest | replay | db upgrade|current|history|downgrade | --version."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import TelegramError

from bot import __version__, logs, startup
from bot.replay import cli as replay_command
from bot.settings import ConfigError, Settings, load_settings
from bot.startup import EXIT_CONFIG, EXIT_FAILURE, StartupFailure
from bot.telegram_http import AiohttpRequest

T = TypeVar("T")
DEFAULT_CONFIG = Path("bot.toml")
CONFIG_HELP = "path to bot.toml (default: ./bot.toml when it exists)"
VERBOSE_HELP = "log debug details, and show tracebacks (secrets redacted)"

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
    logs.configure(verbose=args.verbose)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return args.handler(args)
    except ConfigError as error:
        print(f"jianfu: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except StartupFailure as failure:
        return _fail(str(failure), failure.exit_code, failure, verbose=args.verbose)
    except Exception as error:
        hint = "" if args.verbose else " (jianfu -v shows the traceback)"
        message = f"stopped by an unexpected error: {logs.brief(error)}{hint}"
        return _fail(message, EXIT_FAILURE, error, verbose=args.verbose)


def _fail(message: str, code: int, error: BaseException, *, verbose: bool) -> int:
    """One line on stderr (a JSON record when logs are JSON); with -v the redacted traceback too."""
    message = logs.REDACT(message)
    if logs.uses_json():
        logging.getLogger("jianfu").critical(message)
    else:
        print(f"jianfu: {message}", file=sys.stderr)
    if verbose:
        print(logs.full_traceback(error), file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    # --config and -v work before the command and after it (`jianfu run --config FILE`); the
    # subcommands' copies default to SUPPRESS so they never overwrite a value given before.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=CONFIG_HELP)
    shared.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    parser = argparse.ArgumentParser(
        prog="jianfu", description="Jianfu (减负): less fingertip formalism in work groups."
    )
    parser.add_argument("--version", action="version", version=f"jianfu {__version__}")
    parser.add_argument("--config", type=Path, default=None, help=CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", parents=[shared], help="run the bot (polling, or webhook when configured)")
    run.set_defaults(handler=_run)

    demo = commands.add_parser(
        "demo", parents=[shared], help="run the real bot offline against the in-memory Telegram double"
    )
    demo.add_argument(
        "--language",
        choices=["zh-CN", "en"],
        default=None,
        help="language of the narration and the scripted people (default: the configured language)",
    )
    demo.set_defaults(handler=_demo)

    explain = commands.add_parser(
        "explain",
        parents=[shared],
        help='show how the "received" and formalism rules judge messages (arguments, or one per line on stdin)',
    )
    explain.add_argument("messages", nargs="*", help="messages to judge; none means read stdin")
    explain.add_argument("--json", action="store_true", help="one JSON object per line")
    explain.add_argument(
        "--sender", default="", help="the sender's display name (so '王芳收到' or '收到-王芳' from 王芳 counts)"
    )
    explain.set_defaults(handler=_explain)

    digest = commands.add_parser(
        "digest", parents=[shared], help="render the supervisors' weekly digest from the configured database"
    )
    digest.add_argument("--week", default="", help="e.g. 2026-W47, or 'this' for this week so far (default: last week)")
    digest.add_argument("--out", type=Path, help="write the chart to this PNG file")
    digest.add_argument("--language", choices=["zh-CN", "en"], default=None, help="default: bot.toml's language")
    digest.set_defaults(handler=_digest)

    replay_command.add_parser(commands, parents=[shared])

    db = commands.add_parser("db", parents=[shared], help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", parents=[shared], help="apply pending migrations")
    upgrade.set_defaults(handler=_db_upgrade)
    current = db_commands.add_parser("current", parents=[shared], help="print the database's migration revision")
    current.set_defaults(handler=_db_current)
    downgrade = db_commands.add_parser(
        "downgrade", parents=[shared], help="undo migrations down to REVISION (before installing an older Jianfu)"
    )
    downgrade.add_argument("revision", help="the revision to go back to, e.g. 0005 (see `jianfu db history`)")
    downgrade.add_argument("--yes", action="store_true", help="do it (without it, only say what would be undone)")
    downgrade.set_defaults(handler=_db_downgrade)
    history = db_commands.add_parser("history", parents=[shared], help="list the migrations this version knows")
    history.set_defaults(handler=_db_history)
    return parser


def settings_from(args: argparse.Namespace, **overrides: object) -> Settings:
    """bot.toml from --config, else ./bot.toml when present, else defaults; env overrides apply.

    Logging takes the configured format and level, and learns the secrets it must redact."""
    path = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    settings = load_settings(path, **overrides)
    logs.protect_secrets(settings)
    logs.configure(verbose=args.verbose, level=settings.logging.level, format=settings.logging.format)
    return settings


def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not settings.telegram.token.get_secret_value():
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    asyncio.run(_preflight(settings))
    from bot.app import build_application
    from bot.context import Deps

    app = build_application(settings, Deps.create(settings, request=telegram_request(settings)))
    try:
        _serve(app, settings)
    except TelegramError as error:
        raise startup.telegram_failure(error, settings) from error
    except OSError as error:
        hook = settings.telegram.webhook
        if settings.telegram.mode != "webhook":
            raise
        failure = startup.listen_failure("Telegram's webhook", hook.listen, hook.port, error, "[telegram.webhook] port")
        raise failure from error
    return 0


async def _preflight(settings: Settings) -> None:
    """The database (migrated) and Telegram (the token accepted) before anything starts."""
    await startup.prepare_database(settings)
    await startup.check_telegram(settings)


def telegram_request(settings: Settings) -> AiohttpRequest:
    """The Bot API client with bot.toml's timeouts, for every call and for getUpdates."""
    # One client for both: the executor has at most a few calls in flight (bot/actions.py), and
    # the long poll takes one more connection.
    return AiohttpRequest(
        connection_pool_size=16,
        connect_timeout=settings.telegram.connect_timeout,
        read_timeout=settings.telegram.read_timeout,
    )


def _serve(app: object, settings: Settings) -> None:
    from bot.runner import serve

    asyncio.run(serve(app, settings, freeze_after_start=True))


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    # --language, else the configured language (bot.toml or JIANFU_LANGUAGE), else zh-CN.
    language = args.language or settings_from(args).language
    return asyncio.run(run_demo(language=language))


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
    from bot.digest_cli import render_offline

    settings = settings_from(args)
    return asyncio.run(render_offline(settings, args.week, language=args.language or settings.language, out=args.out))


def _db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    revision = asyncio.run(startup.prepare_database(settings))
    print(f"database is at revision {revision}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from storage.migrate import current_revision

    settings = settings_from(args)
    revision = asyncio.run(_with_engine(settings, current_revision))
    print(revision or "empty (no migrations applied)")
    return 0


def _db_history(args: argparse.Namespace) -> int:
    from storage.migrate import known_revisions

    for revision, title in known_revisions():
        print(f"{revision}  {title}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    from storage.migrate import current_revision, downgrade, revisions_between

    settings = settings_from(args)
    current = asyncio.run(_with_engine(settings, current_revision))
    undone = revisions_between(args.revision, current)
    if undone is None:
        known = "`jianfu db history` lists them"
        print(f"jianfu: {args.revision!r} is not a revision this version knows; {known}", file=sys.stderr)
        return EXIT_CONFIG
    if not undone:
        print(f"database is at revision {current or 'empty'}: nothing to undo")
        return 0
    steps = "\n".join(f"  {revision}  {title}" for revision, title in undone)
    if not args.yes:
        print(f"This would undo, newest first:\n{steps}")
        print("Back up the database first (README: backups), then run again with --yes.")
        return EXIT_CONFIG
    asyncio.run(_with_engine(settings, lambda engine: downgrade(engine, args.revision)))
    print(f"undid:\n{steps}\ndatabase is at revision {args.revision}")
    return 0


async def _with_engine(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `work` on an engine for the configured database; failures become one clear line."""
    from storage.db import create_engine

    startup.check_sqlite_folder(settings.database.url)
    engine = create_engine(settings.database.url)
    try:
        async with startup.database_errors(settings.database.url):
            return await work(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
