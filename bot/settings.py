"""Deployment settings: one pydantic model tree loaded once from bot.toml, with JIANFU_ overrides."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from bot.settings_errors import describe_environment_error, describe_validation_error

SUPPORTED_LANGUAGES = ("zh-CN", "en")


class ConfigError(Exception):
    """A configuration problem, with a message that names the key and what it expects."""


class _Section(BaseModel):
    # Unknown keys are typos more often than not: refuse them so a misspelt key is not ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


# Validators raise messages that say what to write; bot.settings_errors adds the key and an example.

_CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):[0-5]\d")
# What Telegram accepts in X-Telegram-Bot-Api-Secret-Token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
# A bot token as @BotFather gives it: the bot's id, a colon, the secret part.
_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_URL_PATH = re.compile(r"[A-Za-z0-9._~/-]+")


def _clock_time(value: str) -> str:
    if not _CLOCK_TIME.fullmatch(value):
        raise ValueError("write a time as HH:MM (24-hour clock)")
    return value


def _listen_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            raise ValueError(
                'write an IP address to listen on, e.g. "127.0.0.1" (this machine only) or "0.0.0.0" (every interface)'
            ) from None
    return value


def _secret_shaped(value: SecretStr, shape: re.Pattern[str], advice: str) -> SecretStr:
    """An empty secret or one of the right shape; the message never echoes the value."""
    secret = value.get_secret_value()
    if secret and not shape.fullmatch(secret):
        raise ValueError(advice)
    return value


def _no_blank_words(words: tuple[str, ...]) -> tuple[str, ...]:
    if any(not word.strip() for word in words):
        raise ValueError("write a list of words in quotes, none of them empty")
    return words


ClockTime = Annotated[str, AfterValidator(_clock_time)]
ListenAddress = Annotated[str, AfterValidator(_listen_address)]
Words = Annotated[tuple[str, ...], AfterValidator(_no_blank_words)]
# "info" and "INFO" both work, as in most tools.
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)
]


def _required_for_webhook(key: str, what: str) -> PydanticCustomError:
    """An error reported under telegram.webhook.KEY (see bot.settings_errors)."""
    return PydanticCustomError("required_here", "webhook mode needs it: {what}", {"key": key, "what": what})


class WebhookSettings(_Section):
    listen: ListenAddress = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    url: str = Field("", examples=["https://bot.example.org"])
    path: str = "telegram"
    secret: SecretStr = SecretStr("")

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError("write the public https:// address Telegram posts updates to")
        return value

    @field_validator("path")
    @classmethod
    def _url_path(cls, value: str) -> str:
        value = value.strip("/")
        if not _URL_PATH.fullmatch(value):
            raise ValueError("write a URL path of letters, digits, -, _, . and /")
        return value

    @field_validator("secret")
    @classmethod
    def _telegram_accepts_secret(cls, value: SecretStr) -> SecretStr:
        # Telegram refuses setWebhook with any other character.
        return _secret_shaped(
            value,
            _WEBHOOK_SECRET,
            "write 1 to 256 characters from A-Z, a-z, 0-9, _ and - (the only ones Telegram accepts); "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes one",
        )


class RateLimitSettings(_Section):
    enabled: bool = True
    max_retries: int = Field(3, ge=0, le=10)


# A line break or space copied along with the token (from a file, a secret store) is not part of it.
Token = Annotated[SecretStr, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)]


class TelegramSettings(_Section):
    token: Token = SecretStr("")
    base_url: str = Field("", examples=["http://127.0.0.1:8081"])
    mode: Literal["polling", "webhook"] = "polling"
    # Seconds to wait for a connection to the Bot API and for its answer (PTB's defaults);
    # getUpdates waits its long-poll time on top of read_timeout.
    connect_timeout: float = Field(5.0, gt=0, le=300)
    read_timeout: float = Field(5.0, gt=0, le=300)
    webhook: WebhookSettings = WebhookSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        # A quote or a space copied along is the usual cause.
        return _secret_shaped(
            value,
            _BOT_TOKEN,
            "write the token exactly as @BotFather gave it: digits, a colon, then letters, digits, _ and - "
            '(like "123456789:AAE…"), without spaces or quotes inside',
        )

    @field_validator("base_url")
    @classmethod
    def _server_address(cls, value: str) -> str:
        if value and (not value.startswith(("http://", "https://")) or value.rstrip("/").endswith("/bot")):
            raise ValueError("write the Bot API server's address without /bot, or leave it empty for api.telegram.org")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.mode == "webhook":
            if not self.webhook.url:
                address = 'the public https:// address, e.g. "https://bot.example.org"'
                raise _required_for_webhook("webhook.url", address)
            if not self.webhook.secret.get_secret_value():
                raise _required_for_webhook(
                    "webhook.secret",
                    "1 to 256 characters from A-Z, a-z, 0-9, _ and -; "
                    "python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes one",
                )
        return self


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///jianfu.db"
    echo: bool = False
    # One stuck update must not stall the others: its transaction gives up and is tried again.
    lock_timeout_seconds: float = Field(5, gt=0, le=600)
    statement_timeout_seconds: float = Field(30, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                'write "sqlite+aiosqlite:///FILE" or "postgresql+asyncpg://USER:PASSWORD@HOST:5432/DATABASE" '
                "(Jianfu needs these async drivers)"
            )
        return value


class GroupMessageSettings(_Section):
    """The bot's own messages in groups are few and expire."""

    expire_after_minutes: int = Field(10, ge=1, le=48 * 60)

    @property
    def expire_after(self) -> timedelta:
        return timedelta(minutes=self.expire_after_minutes)


class RolesSettings(_Section):
    supervisors: tuple[int, ...] = Field((), examples=[[123456789, 987654321]])
    admin_cache_minutes: int = Field(60, ge=1, le=7 * 24 * 60)

    @field_validator("supervisors")
    @classmethod
    def _user_ids(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if any(value <= 0 for value in values):
            raise ValueError(
                "write Telegram user ids, which are positive whole numbers (a person sees theirs with /start)"
            )
        return values

    @property
    def admin_cache(self) -> timedelta:
        return timedelta(minutes=self.admin_cache_minutes)


class UpdateSettings(_Section):
    """How updates come in: chats handled at once, tries before one is set aside, long polling."""

    concurrent_chats: int = Field(32, ge=1, le=1000)
    attempts: int = Field(3, ge=1, le=20)
    poll_timeout_seconds: int = Field(30, ge=0, le=50)


class JobSettings(_Section):
    sweep_seconds: int = Field(30, ge=1, le=3600)
    batch_size: int = Field(50, ge=1, le=1000)
    lease_seconds: int = Field(300, ge=10, le=24 * 3600)
    max_attempts: int = Field(5, ge=1, le=100)
    # The first wait before a Telegram action refused for now is tried again (doubling, at most an hour).
    retry_seconds: int = Field(5, ge=1, le=3600)


class AuditSettings(_Section):
    """The groups' action log (/log): how long it is kept."""

    # Rows older than this are removed by the sweep.
    keep_days: int = Field(90, ge=1, le=3650)

    @property
    def keep_for(self) -> timedelta:
        return timedelta(days=self.keep_days)


class ReceivedSettings(_Section):
    """The "received" rule: ack-only replies become reads; ack demands get a reminder."""

    mode: Literal["off", "record", "remove"] = "remove"
    notice_window_minutes: int = Field(30, ge=0, le=7 * 24 * 60)
    # A reminder for a sender who never opened a private chat waits this long for their /start.
    kept_reminder_days: float = Field(7, gt=0, le=90)
    # No longer used (the bot no longer answers such senders in the group); accepted so that
    # an older bot.toml still loads.
    demand_reply_expire_minutes: float = Field(2, gt=0, le=24 * 60)
    extra_ack_words: Words = Field((), examples=[["已办", "遵命"]])
    urgent_markers: Words = ("【紧急】", "紧急", "特急", "加急", "急件", "十万火急", "#urgent", "urgent", "asap")


FormalismSwitch = Literal["on", "record", "off"]


class FormalismSettings(_Section):
    """The formalism rules beyond "received", for every group that has not chosen with /set:
    "on" counts the demand and reminds its sender privately, "record" only counts it."""

    checkin: FormalismSwitch = "on"
    photo_proof: FormalismSwitch = "on"
    promotion: FormalismSwitch = "on"
    instant_reply: FormalismSwitch = "on"


class NoticeSettings(_Section):
    """How notices are recognised and shown."""

    tags: Words = ("#通知", "#公告", "#notice", "#announcement")
    # A tracked notice's read counter is edited at most this often.
    counter_edit_seconds: int = Field(5, ge=1, le=3600)
    # Quiet hours (local time): a non-urgent notice posted then counts as an after-hours event,
    # and reminders wait for the next working period. Groups may set their own with /set quiet.
    quiet_start: ClockTime = "21:00"
    quiet_end: ClockTime = "07:30"
    quiet_weekends: bool = True
    # Members who have not read a notice are reminded privately this long before its deadline.
    deadline_reminder_hours: int = Field(24, ge=1, le=24 * 14)
    # A notice repeating one from another group this recently is linked to it (shown once).
    duplicate_window_days: int = Field(14, ge=1, le=365)


class TemporarySettings(_Section):
    """Temporary groups: closed a few days after /done, as the regulation requires."""

    close_after_days: int = Field(3, ge=0, le=30)
    max_extend_days: int = Field(30, ge=1, le=365)
    reminder_hours: int = Field(24, ge=0, le=24 * 7)
    idle_days: int = Field(7, ge=1, le=365)
    closed_title_prefix: str = Field("[已结束]", max_length=20)
    leave_after_close: bool = True
    idle_scan_minutes: int = Field(60, ge=1, le=24 * 60)


class QuotaSettings(_Section):
    """How many active work groups a department may have: per internal unit (0: no quota).
    A department's own fixed number (/dept quota) overrides this."""

    groups_per_unit: int = Field(0, ge=0, le=1000)


# A shorter whistle secret could be guessed offline from a copy of the database.
SECRET_MIN = 16


class WhistleSettings(_Section):
    """Anonymous reports: how many a person may file, when supervisors hear of them."""

    # Reports one person may submit per (local) day, and wrong receipt codes per hour before
    # /status stops answering; counted in the database per bucket of people (policies.whistle).
    reports_per_day: int = Field(5, ge=1, le=100)
    code_attempts_per_hour: int = Field(10, ge=1, le=1000)
    # How many buckets those counts are kept in: more means fewer strangers limited together,
    # fewer means a larger crowd to hide in. About one per 20 to 50 people who could report.
    limit_buckets: int = Field(64, ge=1, le=2**14)
    # Names and seals unfinished reports and keys the rate limits; the same on every replica and
    # never in the database. Empty: derived from the bot token (bot/whistle_keys.py).
    secret: SecretStr = SecretStr("")
    # Local times at which supervisors are told about new reports, never the moment one arrives.
    batch_times: tuple[ClockTime, ...] = Field(("09:00", "15:00"), min_length=1, max_length=24)
    # A report still open after this many days is flagged to supervisors (again each week).
    open_days_flag: int = Field(14, ge=1, le=365)
    # An unfinished report is forgotten after this many minutes without an answer.
    flow_expire_minutes: int = Field(30, ge=1, le=24 * 60)
    # Evidence items (photos, documents, forwarded messages) per report.
    max_evidence: int = Field(10, ge=0, le=50)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < SECRET_MIN:
            raise ValueError(
                f"write at least {SECRET_MIN} characters (e.g. the output of `openssl rand -hex 32`), "
                "or leave it empty to derive the keys from the bot token"
            )
        return value

    def batch_clock_times(self) -> tuple[time, ...]:
        return tuple(time.fromisoformat(value.zfill(5)) for value in self.batch_times)


class DigestSettings(_Section):
    """The weekly digest: when it goes out and to whom."""

    enabled: bool = True
    # In `timezone`; the digest reports the last complete week (Monday to Sunday).
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    time: ClockTime = "09:00"
    # A supervisors' group gets the scoreboard instead of each supervisor privately (0: none).
    supervisors_chat_id: int = 0
    departments: bool = True
    personal: bool = True
    # The saved-time estimate: seconds a member spends on one "received" message.
    seconds_per_message: float = Field(5, ge=0, le=600)
    chart_departments: int = Field(15, ge=1, le=100)
    # A TrueType/OpenType font with Chinese glyphs for the chart ("": look for an installed one).
    chart_font: str = ""

    @field_validator("chart_font")
    @classmethod
    def _font_exists(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError("write the path of a font file (.ttf, .otf, .ttc) that exists, or leave it empty")
        return value


class HealthSettings(_Section):
    """The /healthz and /metrics endpoints for probes and Prometheus."""

    listen: ListenAddress = "127.0.0.1"
    # 0 turns the endpoints off.
    port: int = Field(8090, ge=0, le=65535)
    # /healthz fails when due work (closes, reminders, digests) waits longer than this.
    max_due_lag_minutes: int = Field(15, ge=1, le=24 * 60)


class LoggingSettings(_Section):
    """Where logs go is stderr; how they look is chosen here."""

    format: Literal["plain", "json"] = "plain"
    level: LogLevel = "INFO"


class Settings(BaseSettings):
    """The whole deployment configuration."""

    model_config = SettingsConfigDict(
        env_prefix="JIANFU_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    timezone: str = "Asia/Shanghai"
    language: Literal["zh-CN", "en"] = "zh-CN"
    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    roles: RolesSettings = RolesSettings()
    group_messages: GroupMessageSettings = GroupMessageSettings()
    jobs: JobSettings = JobSettings()
    audit: AuditSettings = AuditSettings()
    updates: UpdateSettings = UpdateSettings()
    received: ReceivedSettings = ReceivedSettings()
    formalism: FormalismSettings = FormalismSettings()
    notices: NoticeSettings = NoticeSettings()
    temporary: TemporarySettings = TemporarySettings()
    quotas: QuotaSettings = QuotaSettings()
    whistle: WhistleSettings = WhistleSettings()
    digest: DigestSettings = DigestSettings()
    health: HealthSettings = HealthSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("write an IANA time zone name") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over bot.toml (passed as init values), so a container can
        # inject the token without editing the file.
        return env_settings, init_settings


def load_settings(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Load bot.toml (when it exists) plus JIANFU_ environment overrides; raise ConfigError."""
    values = _read_toml(Path(path)) if path is not None else {}
    values = merge_tables(values, overrides)
    try:
        settings = Settings(**values)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, path, Settings)) from None
    except SettingsError as error:
        # Raised for an environment value that is not valid JSON where a list or table is due.
        raise ConfigError(describe_environment_error(error)) from None
    return _anchor_sqlite_file(settings, Path(path).parent if path is not None else None)


def _anchor_sqlite_file(settings: Settings, config_dir: Path | None) -> Settings:
    """A relative SQLite path means "next to bot.toml", not "wherever the bot was started"."""
    prefix = "sqlite+aiosqlite:///"
    url = settings.database.url
    if config_dir is None or not url.startswith(prefix):
        return settings
    file_part = url.removeprefix(prefix)
    if not file_part or file_part.startswith("/") or file_part.startswith(":memory:"):
        return settings
    anchored = f"{prefix}{(config_dir / file_part).resolve()}"
    database = settings.database.model_copy(update={"url": anchored})
    return settings.model_copy(update={"database": database})


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def merge_tables(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it, table by table (as bot.toml and its overrides combine)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_tables(merged[key], value)
        else:
            merged[key] = value
    return merged
