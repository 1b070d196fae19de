"""A group's own settings and its close progress, as typed values, and their merge with the
deployment's defaults.

Both are kept in the chats row's JSON column `settings` under flat keys (the stored shape is
unchanged): "received", "quiet", "digest", one key per formalism kind, and "close_missing_rights",
"close_summary_message_id", "bot_invite_links". `read_stored` validates what a row holds: a key
it does not know, or a value it cannot use, is dropped (and counted, so the caller can log it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from policies.formalism import ALL_KINDS, Switch
from policies.quiet import QuietHours, group_quiet_hours
from policies.received import FORMALISM_KIND_NAMES, RULE, Mode, formalism_switch_of

RECEIVED, QUIET, DIGEST = "received", "quiet", "digest"
MISSING_RIGHTS, SUMMARY_MESSAGE, INVITE_LINKS = "close_missing_rights", "close_summary_message_id", "bot_invite_links"
QUIET_OFF = "off"
QUIET_RANGE = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d$")
_KINDS = frozenset(kind.value for kind in ALL_KINDS)
_MODES = frozenset(mode.value for mode in Mode)
_SWITCHES = frozenset(switch.value for switch in Switch)
_ON_OFF = {"on": True, "off": False}


@dataclass(frozen=True)
class GroupSettings:
    """What a group chose with /set; None (or no entry) means the deployment's default."""

    received: Mode | None = None
    quiet: str | None = None  # "22:00-07:00", or "off" for no quiet hours
    digest: bool | None = None
    formalism: Mapping[str, Switch] = field(default_factory=dict)

    def with_formalism(self, kinds: Iterable[str], switch: Switch) -> GroupSettings:
        return replace(self, formalism={**self.formalism, **dict.fromkeys(map(str, kinds), switch)})


@dataclass(frozen=True)
class CloseProgress:
    """What a temporary group's close needs and has done, kept so a resumed close knows it."""

    missing_rights: tuple[str, ...] = ()
    summary_message_id: int | None = None
    bot_invite_links: tuple[str, ...] = ()

    def with_missing(self, right: str) -> CloseProgress:
        return replace(self, missing_rights=tuple(sorted({*self.missing_rights, right})))


@dataclass(frozen=True)
class StoredSettings:
    settings: GroupSettings
    close: CloseProgress
    dropped: int = 0  # entries of known keys whose values were not understood
    # Keys this version does not know (a newer replica's, during a rolling upgrade): written back
    # as they were, so saving a setting here never erases what another version keeps.
    others: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupDefaults:
    """The deployment's settings for groups that chose nothing (bot.toml)."""

    mode: str
    quiet_start: str
    quiet_end: str
    quiet_weekends: bool


def quiet_choice(text: str) -> str | None:
    """A `/set quiet` value as stored ("off", or a range of times), or None when it is not one."""
    choice = QUIET_OFF if text.lower() in (QUIET_OFF, "关闭") else text
    return choice if choice == QUIET_OFF or QUIET_RANGE.match(choice) else None


def read_stored(raw: Mapping[str, Any] | None) -> StoredSettings:
    """The typed settings and close progress of a row's JSON; what does not fit is dropped."""
    raw = raw if isinstance(raw, Mapping) else {}
    readers = {
        RECEIVED: lambda value: Mode(value) if value in _MODES else None,
        QUIET: lambda value: value if isinstance(value, str) and quiet_choice(value) == value else None,
        DIGEST: lambda value: _ON_OFF.get(value) if isinstance(value, str) else None,
        MISSING_RIGHTS: _strings,
        SUMMARY_MESSAGE: lambda value: value if isinstance(value, int) and not isinstance(value, bool) else None,
        INVITE_LINKS: _strings,
    }
    values: dict[str, Any] = {}
    formalism: dict[str, Switch] = {}
    others = {key: value for key, value in raw.items() if key not in readers and key not in _KINDS}
    for key, value in raw.items():
        if key in _KINDS and value in _SWITCHES:
            formalism[key] = Switch(value)
        elif key in readers and (read := readers[key](value)) is not None:
            values[key] = read
    settings = GroupSettings(values.get(RECEIVED), values.get(QUIET), values.get(DIGEST), formalism)
    close = CloseProgress(values.get(MISSING_RIGHTS, ()), values.get(SUMMARY_MESSAGE), values.get(INVITE_LINKS, ()))
    dropped = len(raw) - len(values) - len(formalism) - len(others)
    return StoredSettings(settings, close, dropped=dropped, others=others)


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def to_stored(settings: GroupSettings, close: CloseProgress, others: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON a row keeps: only what was chosen or done, in the keys read_stored reads, and the
    keys of other versions as they were."""
    stored: dict[str, Any] = {
        **(others or {}),
        RECEIVED: settings.received.value if settings.received else None,
        QUIET: settings.quiet,
        DIGEST: None if settings.digest is None else ("on" if settings.digest else "off"),
        **{kind: switch.value for kind, switch in settings.formalism.items()},
        MISSING_RIGHTS: list(close.missing_rights) or None,
        SUMMARY_MESSAGE: close.summary_message_id,
        INVITE_LINKS: list(close.bot_invite_links) or None,
    }
    return {key: value for key, value in stored.items() if value is not None}


def group_mode(settings: GroupSettings | None, defaults: GroupDefaults) -> Mode:
    """The group's own `/set received` choice, else the deployment's mode."""
    return (settings.received if settings else None) or Mode(defaults.mode)


def quiet_hours(settings: GroupSettings | None, defaults: GroupDefaults) -> QuietHours | None:
    """The group's quiet hours (its /set quiet choice, else the deployment's); None when off."""
    return group_quiet_hours(
        settings.quiet if settings else None,
        start=defaults.quiet_start,
        end=defaults.quiet_end,
        weekends=defaults.quiet_weekends,
    )


def above_record(
    rule: str, settings: GroupSettings, defaults: GroupDefaults, deployment_formalism: Mapping[str, Switch]
) -> tuple[str, ...]:
    """What turning `rule` down to record-only would change in a group: the "received" rule while
    it removes, the formalism kinds that are on. A rule switched off is never switched to record."""
    if rule == RULE:
        return (RULE,) if group_mode(settings, defaults) is Mode.REMOVE else ()
    return tuple(
        kind
        for kind in FORMALISM_KIND_NAMES
        if formalism_switch_of(kind, settings.formalism, deployment_formalism) is Switch.ON
    )


def record_only(settings: GroupSettings, rule: str, lowered: Iterable[str]) -> GroupSettings:
    """The settings with `rule` (its `lowered` kinds, for the formalism rules) at record-only."""
    if rule == RULE:
        return replace(settings, received=Mode.RECORD)
    return settings.with_formalism(lowered, Switch.RECORD)
