"""Logging: plain or JSON lines on stderr, secrets redacted, tracebacks only with -v.

The rules that keep content out of logs live here: libraries that log message text or
statement values stay at INFO or above, exceptions are shown by type and place (their messages
may quote user text, and PTB's InvalidToken quotes the token) unless -v asks for the whole
traceback, and every line, traceback included, passes through the redactor last.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from bot.settings import Settings

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# user:PASSWORD@ inside any URL, whatever the scheme.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)
# Shorter strings would redact ordinary words; such a secret is weak anyway.
_MIN_SECRET = 6


class Redactor:
    """Replaces every known secret, and any password inside a URL, in a piece of text."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}

    def add(self, secret: str, label: str = "<secret>") -> None:
        if len(secret) < _MIN_SECRET:
            return
        for form in {secret, quote(secret, safe="")}:
            self._secrets[form] = label

    def add_token(self, token: str) -> None:
        """The whole bot token, and its secret half on its own (after the bot id and colon)."""
        self.add(token, "<token>")
        self.add(token.partition(":")[2], "<token>")

    def __call__(self, text: str) -> str:
        # Longest first, so a token's secret half never leaves its id standing beside "<token>".
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, self._secrets[secret])
        return _URL_PASSWORD.sub(r"\g<head>***@", text)


# One process, one set of secrets: filled once the configuration is loaded.
REDACT = Redactor()


def protect_secrets(settings: Settings, redactor: Redactor = REDACT) -> None:
    """Teach the redactor this deployment's token, webhook secret and database password."""
    from sqlalchemy.engine import make_url

    redactor.add_token(settings.telegram.token.get_secret_value())
    redactor.add(settings.telegram.webhook.secret.get_secret_value())
    password = make_url(settings.database.url).password
    if password:
        redactor.add(str(password))


def brief(error: BaseException) -> str:
    """An exception by type and the places it passed, never its message."""
    frames = traceback.extract_tb(error.__traceback__)
    where = " <- ".join(
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}" for frame in reversed(frames[-6:])
    )
    return f"{type(error).__module__}.{type(error).__qualname__} at {where or 'unknown'}"


def full_traceback(error: BaseException, redactor: Redactor = REDACT) -> str:
    """The whole traceback, chained causes included, with secrets redacted (for -v)."""
    return redactor("".join(traceback.format_exception(error)).rstrip())


class _ExceptionRendering:
    """Shared by both formats: the whole traceback with -v, else type and place only."""

    verbose: bool
    redact: Redactor

    def render_exception(self, exc_info: ExcInfo) -> str:
        error = exc_info[1]
        return full_traceback(error, self.redact) if self.verbose else brief(error)


class PlainFormatter(_ExceptionRendering, logging.Formatter):
    """`2026-11-30 09:00:00,123 INFO jianfu.startup: …`, one line unless -v adds a traceback."""

    def __init__(self, *, verbose: bool, redact: Redactor = REDACT) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.verbose, self.redact = verbose, redact

    def formatException(self, ei: ExcInfo) -> str:
        return self.render_exception(ei)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # The cached rendering would outlive a change of verbosity.
        record.exc_text = None
        if not self.verbose:
            line = line.replace("\n", " | ")
        return self.redact(line)


class JsonFormatter(_ExceptionRendering, logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and error when there is one."""

    def __init__(self, *, verbose: bool, redact: Redactor = REDACT) -> None:
        super().__init__()
        self.verbose, self.redact = verbose, redact

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = self.redact(self.render_exception(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (tests and the demo swap it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure(*, verbose: bool = False, level: str = "INFO", format: str = "plain") -> None:
    """Install Jianfu's handler on the root logger (replacing an earlier one of its own)."""
    numeric = logging.DEBUG if verbose else logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter(verbose=verbose) if format == "json" else PlainFormatter(verbose=verbose))
    root.addHandler(handler)
    root.setLevel(numeric)
    keep_content_out_of_library_logs(numeric)
    if not verbose:
        # Start-up chatter from migrations and the scheduler says nothing an operator acts on.
        for chatty in ("alembic", "apscheduler"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def uses_json() -> bool:
    """Whether Jianfu's handler writes JSON lines (so a fatal message is one too)."""
    return any(
        isinstance(h, _StderrHandler) and isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers
    )


def keep_content_out_of_library_logs(level: int) -> None:
    """Libraries that log user content or secrets at DEBUG never go below INFO here."""
    # httpx logs every request URL, and Telegram URLs contain the token. Jianfu's Bot API calls go
    # through aiohttp (bot/telegram_http.py), whose client logs no URLs, but httpx stays PTB's
    # default client for any Bot built without a request.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # At DEBUG, PTB logs every Bot API call with its parameters and results (message text,
    # names); aiosqlite logs every statement with its values (user ids, notices). Jianfu keeps
    # content out of logs (a whistleblower's id above all), so these stay at INFO or above.
    for library in ("telegram", "aiosqlite", "asyncpg"):
        logging.getLogger(library).setLevel(max(level, logging.INFO))
