"""Deployment settings: one pydantic model tree loaded once from bot.toml, with JIANFU_ overrides."""

from __future__ import annotations

import re
import tomllib
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

SUPPORTED_LANGUAGES = ("zh-CN", "en")


class ConfigError(Exception):
    """A configuration problem, with a message that names the key and what it expects."""


class _Section(BaseModel):
    # Unknown keys are typos more often than not: refuse them so a misspelt key is not ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSettings(_Section):
    listen: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    url: str = ""
    path: str = "telegram"
    secret: SecretStr = SecretStr("")

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError("must be the public https:// address Telegram posts updates to")
        return value


class RateLimitSettings(_Section):
    enabled: bool = True
    max_retries: int = Field(3, ge=0, le=10)


class TelegramSettings(_Section):
    token: SecretStr = SecretStr("")
    base_url: str = ""
    mode: Literal["polling", "webhook"] = "polling"
    # Seconds to wait for a connection to the Bot API and for its answer (PTB's defaults);
    # getUpdates waits its long-poll time on top of read_timeout.
    connect_timeout: float = Field(5.0, gt=0, le=300)
    read_timeout: float = Field(5.0, gt=0, le=300)
    webhook: WebhookSettings = WebhookSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.mode == "webhook":
            if not self.webhook.url:
                raise ValueError("telegram.mode = 'webhook' needs telegram.webhook.url")
            if not self.webhook.secret.get_secret_value():
                raise ValueError("telegram.mode = 'webhook' needs telegram.webhook.secret")
        return self


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///jianfu.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (an async driver)"
            )
        return value


class GroupMessageSettings(_Section):
    """The bot's own messages in groups are few and expire."""

    expire_after_minutes: int = Field(10, ge=1, le=48 * 60)

    @property
    def expire_after(self) -> timedelta:
        return timedelta(minutes=self.expire_after_minutes)


class RolesSettings(_Section):
    supervisors: tuple[int, ...] = ()
    admin_cache_minutes: int = Field(60, ge=1, le=7 * 24 * 60)

    @property
    def admin_cache(self) -> timedelta:
        return timedelta(minutes=self.admin_cache_minutes)


class JobSettings(_Section):
    sweep_seconds: int = Field(30, ge=1, le=3600)
    batch_size: int = Field(50, ge=1, le=1000)
    lease_seconds: int = Field(300, ge=10, le=24 * 3600)
    max_attempts: int = Field(5, ge=1, le=100)


class ReceivedSettings(_Section):
    """The "received" rule: ack-only replies become reads; ack demands get a reminder."""

    mode: Literal["off", "record", "remove"] = "remove"
    notice_window_minutes: int = Field(30, ge=0, le=7 * 24 * 60)
    demand_reply_expire_minutes: float = Field(2, gt=0, le=24 * 60)
    extra_ack_words: tuple[str, ...] = ()
    urgent_markers: tuple[str, ...] = ("【紧急】", "紧急", "特急", "加急", "急件", "十万火急", "#urgent", "urgent", "asap")

    @field_validator("extra_ack_words", "urgent_markers")
    @classmethod
    def _no_blank_words(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        if any(not word.strip() for word in words):
            raise ValueError("must not contain empty words")
        return words


class NoticeSettings(_Section):
    """How notices are recognised and shown."""

    tags: tuple[str, ...] = ("#通知", "#公告", "#notice", "#announcement")
    # A tracked notice's read counter is edited at most this often.
    counter_edit_seconds: int = Field(5, ge=1, le=3600)
    # Quiet hours (local time): a non-urgent notice posted then counts as an after-hours event,
    # and reminders wait for the next working period. Groups may set their own with /set quiet.
    quiet_start: str = Field("21:00", pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    quiet_end: str = Field("07:30", pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
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


_CLOCK_TIME = r"^([01]?\d|2[0-3]):[0-5]\d$"


class WhistleSettings(_Section):
    """Anonymous reports: how many a person may file, when supervisors hear of them."""

    # Reports one person may submit per day (counted under a keyed HMAC that is replaced daily).
    reports_per_day: int = Field(5, ge=1, le=100)
    # Wrong receipt codes one person may try per hour before /status stops answering.
    code_attempts_per_hour: int = Field(10, ge=1, le=1000)
    # Local times at which supervisors are told about new reports, never the moment one arrives.
    batch_times: tuple[str, ...] = Field(("09:00", "15:00"), min_length=1, max_length=24)
    # A report still open after this many days is flagged to supervisors (again each week).
    open_days_flag: int = Field(14, ge=1, le=365)
    # An unfinished report is forgotten after this many minutes without an answer.
    flow_expire_minutes: int = Field(30, ge=1, le=24 * 60)
    # Evidence items (photos, documents, forwarded messages) per report.
    max_evidence: int = Field(10, ge=0, le=50)

    @field_validator("batch_times")
    @classmethod
    def _clock_times(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not re.match(_CLOCK_TIME, value):
                raise ValueError(f"{value!r} is not a time like 09:00")
        return values

    def batch_clock_times(self) -> tuple[time, ...]:
        return tuple(time.fromisoformat(value.zfill(5)) for value in self.batch_times)


class DigestSettings(_Section):
    """The weekly digest: when it goes out and to whom."""

    enabled: bool = True
    # In `timezone`; the digest reports the last complete week (Monday to Sunday).
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    time: str = Field("09:00", pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
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
            raise ValueError("must be the path of a font file (.ttf, .otf, .ttc) that exists, or empty")
        return value


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
    received: ReceivedSettings = ReceivedSettings()
    notices: NoticeSettings = NoticeSettings()
    temporary: TemporarySettings = TemporarySettings()
    quotas: QuotaSettings = QuotaSettings()
    whistle: WhistleSettings = WhistleSettings()
    digest: DigestSettings = DigestSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name such as Asia/Shanghai") from None
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
        raise ConfigError(describe_validation_error(error, path)) from None
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


def describe_environment_error(error: SettingsError) -> str:
    """Name the JIANFU_ variable whose value could not be parsed."""
    cause = str(error)
    field = cause.split('"')[1] if '"' in cause else "a setting"
    return (
        f"invalid configuration in the environment: the value for {field} could not be parsed.\n"
        "  Lists and tables are JSON there, e.g. JIANFU_ROLES__SUPERVISORS='[123, 456]'."
    )


def describe_validation_error(error: ValidationError, path: Path | str | None) -> str:
    """One line per wrong key, naming it the way it is written in bot.toml."""
    source = f" in {path}" if path else ""
    lines = [f"invalid configuration{source}:"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a known setting (check the spelling against bot.toml)"
        lines.append(f"  {key}: {message}")
    lines.append("The environment can override any key: JIANFU_SECTION__KEY, e.g. JIANFU_TELEGRAM__TOKEN.")
    return "\n".join(lines)
