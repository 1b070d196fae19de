"""Start-up checks that fail with one clear line: the database, then Telegram.

Each failure becomes a StartupFailure: what went wrong, what to check, and the exit code
(2 configuration, 3 database, 4 Telegram unreachable). `jianfu -v` adds the traceback, with
secrets redacted; without it nothing but the line is printed.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from telegram import Bot, User
from telegram.error import InvalidToken, NetworkError, TelegramError, TimedOut

from bot.logs import REDACT
from bot.settings import Settings
from bot.telegram_http import AiohttpRequest

log = logging.getLogger("jianfu.startup")

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_DATABASE = 3
EXIT_TELEGRAM = 4

DEFAULT_API = "https://api.telegram.org"
# A Bot API that does not answer within this long at start is reported, not waited for.
TELEGRAM_TIMEOUT_SECONDS = 15


class StartupFailure(Exception):
    """A start-up problem explained in one line, with the exit code that classifies it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- database ----------------------------------------------------------------------------------


def printable_url(url: str) -> str:
    """The database URL with its password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def check_sqlite_folder(url: str) -> None:
    """A SQLite file in a folder that does not exist fails here, naming the folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database.startswith(":memory:"):
        return
    folder = Path(parsed.database).parent
    if not folder.is_dir():
        raise StartupFailure(
            f"the folder {folder} for the SQLite database does not exist: create it (mkdir -p {folder}) "
            "or change [database] url (a relative path is relative to the folder of bot.toml)",
            EXIT_DATABASE,
        )


@asynccontextmanager
async def database_errors(url: str) -> AsyncIterator[None]:
    """Turn a database that cannot be reached or used into a StartupFailure naming it."""
    try:
        yield
    except StartupFailure:
        raise
    except (DBAPIError, OSError, TimeoutError) as error:
        raise database_failure(error, url) from error
    except CommandError as error:
        # The database's alembic_version names a revision this version's migrations do not have.
        if "Can't locate revision" in str(error):
            raise schema_failure(url) from error
        raise


def database_failure(error: BaseException, url: str) -> StartupFailure:
    where = printable_url(url)
    reason = REDACT(_database_reason(error))
    if make_url(url).get_backend_name() == "sqlite":
        advice = "check that the folder exists and that the bot's user may write there"
    else:
        advice = "check that PostgreSQL runs, that the database and user exist, and [database] url"
    return StartupFailure(f"cannot use the database {where} ({reason}): {advice}", EXIT_DATABASE)


def schema_failure(url: str) -> StartupFailure:
    """Alembic does not know the database's revision: a newer Jianfu migrated it."""
    return StartupFailure(
        f"the database {printable_url(url)} was migrated by a newer version of Jianfu: run `jianfu db downgrade "
        "REVISION --yes` with that newer version first (see the README on rolling back), or install it again",
        EXIT_DATABASE,
    )


def _database_reason(error: BaseException) -> str:
    if isinstance(error, DBAPIError):
        original = error.orig if error.orig is not None else error
        return str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    if isinstance(error, socket.gaierror):
        return f"host not found: {error.strerror}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return type(error).__name__


async def prepare_database(settings: Settings) -> str | None:
    """Check the SQLite folder, apply pending migrations; the revision the database is at."""
    from storage.db import create_engine
    from storage.migrate import current_revision, upgrade

    url = settings.database.url
    check_sqlite_folder(url)
    engine = create_engine(url)
    try:
        async with database_errors(url):
            await upgrade(engine)
            return await current_revision(engine)
    finally:
        await engine.dispose()


# --- Telegram ----------------------------------------------------------------------------------


def api_server(settings: Settings) -> str:
    return settings.telegram.base_url.rstrip("/") or DEFAULT_API


async def check_telegram(settings: Settings) -> User:
    """getMe once: a rejected token or an unreachable Bot API fails here, in one line."""
    server = api_server(settings)
    request = AiohttpRequest(connect_timeout=TELEGRAM_TIMEOUT_SECONDS, read_timeout=TELEGRAM_TIMEOUT_SECONDS)
    token = settings.telegram.token.get_secret_value()
    bot = Bot(
        token,
        base_url=f"{server}/bot",
        base_file_url=f"{server}/file/bot",
        request=request,
        get_updates_request=request,  # else PTB would make an httpx client for it
    )
    try:
        async with bot:
            return bot.bot
    except TelegramError as error:
        raise telegram_failure(error, settings) from error


def telegram_failure(error: TelegramError, settings: Settings) -> StartupFailure:
    """What a Telegram error at start means for the operator."""
    server = api_server(settings)
    if isinstance(error, InvalidToken):
        elsewhere = (
            f" (or {server} is not a Bot API server: check [telegram] base_url)" if settings.telegram.base_url else ""
        )
        return StartupFailure(
            "Telegram rejected the bot token: check it with @BotFather (/mybots → API Token) and set [telegram] token "
            f"or JIANFU_TELEGRAM__TOKEN again{elsewhere}",
            EXIT_CONFIG,
        )
    if isinstance(error, TimedOut | NetworkError):
        reason = "no answer in time" if isinstance(error, TimedOut) else REDACT(error.message)
        return StartupFailure(
            f"cannot reach the Telegram Bot API at {server} ({reason}): check the network, DNS and any proxy "
            "(HTTPS_PROXY), or [telegram] base_url for a local Bot API server",
            EXIT_TELEGRAM,
        )
    return StartupFailure(f"Telegram refused to start the bot: {REDACT(error.message)}", EXIT_CONFIG)


def listen_failure(what: str, address: str, port: int, error: OSError, key: str) -> StartupFailure:
    """A port that cannot be listened on (taken, or privileged)."""
    reason = (error.strerror or type(error).__name__).lower()
    return StartupFailure(f"cannot listen on {address}:{port} for {what} ({reason}): change {key}", EXIT_CONFIG)


# --- the start-up line ------------------------------------------------------------------------


def announce(settings: Settings, me: User, supervisors: int) -> None:
    """One line an operator can check at a glance, and a warning when nobody supervises."""
    privacy = "off" if me.can_read_all_group_messages else "on (the bot must be an admin to see group messages)"
    log.info(
        "Jianfu starting as @%s in %s mode; database %s; %d supervisor(s); privacy mode %s",
        me.username, settings.telegram.mode, printable_url(settings.database.url), supervisors, privacy,
    )  # fmt: skip
    if supervisors == 0:
        log.warning(
            "no supervisors are configured: nobody manages departments, reviews whistle reports or gets the "
            "digest; list their Telegram user ids under [roles] supervisors (each sees theirs with /start)"
        )
