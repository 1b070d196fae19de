"""Locale catalogs (bot/locales/*.toml) and HTML-safe rendering of their messages."""

from __future__ import annotations

import html
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policies.actions import KeyList

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "zh-CN"
# A parameter echoing user input is cut here, so no echo can push a message past Telegram's
# 4096-character limit (trusted Html, such as listings, is exempt).
MAX_PARAM_CHARS = 200


class Html(str):
    """Text that is already valid Telegram HTML: rendered as is, not escaped again."""


class Catalog:
    """Every message in every language; `text()` renders one with escaped parameters."""

    def __init__(self, messages: Mapping[str, Mapping[str, str]], default: str = DEFAULT_LANGUAGE):
        self.messages = messages
        self.default = default

    @classmethod
    def load(cls, directory: Path = LOCALES, default: str = DEFAULT_LANGUAGE) -> Catalog:
        messages = {path.stem: _flatten(_read(path)) for path in sorted(directory.glob("*.toml"))}
        if default not in messages:
            raise ValueError(f"no catalog for the default language {default} in {directory}")
        return cls(messages, default)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.messages)

    def raw(self, language: str | None, key: str) -> str:
        """The template for `key`, falling back to the default language."""
        table = self.messages.get(language or self.default, self.messages[self.default])
        template = table.get(key)
        if template is None:
            template = self.messages[self.default].get(key)
        if template is None:
            raise KeyError(f"no message {key!r} in any catalog")
        return template

    def text(self, language: str | None, key: str, /, **params: Any) -> str:
        """Render `key` as Telegram HTML: every parameter is escaped unless it is Html."""
        rendered = {name: self._render_param(language, value) for name, value in params.items()}
        return fill(self.raw(language, key), rendered)

    def _render_param(self, language: str | None, value: Any) -> str:
        if isinstance(value, Html):
            return str(value)
        if isinstance(value, KeyList):
            return self._render_list(language, value)
        text = str(value)
        if len(text) > MAX_PARAM_CHARS:
            text = text[: MAX_PARAM_CHARS - 1] + "…"
        return html.escape(text, quote=False)

    def _render_list(self, language: str | None, items: KeyList) -> str:
        if not items.items:
            return self.raw(language, f"{items.prefix}_none")
        header = self.raw(language, f"{items.prefix}_header")
        names = [self.raw(language, f"{items.prefix}{item}") for item in items.items]
        if items.inline:
            return header + self.raw(language, f"{items.prefix}_separator").join(names)
        return "\n".join([header, *names])


class _Formatter(string.Formatter):
    """str.format with one addition, plurals: `{count:# notice|# notices}` (# is the number)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if "|" not in format_spec:
            return super().format_field(value, format_spec)
        one, other = format_spec.split("|", 1)
        return (one if str(value) == "1" else other).replace("#", str(value))


_FORMATTER = _Formatter()


def fill(template: str, params: Mapping[str, Any]) -> str:
    """The template with its placeholders filled; no line ends in a space, whatever a parameter held."""
    text = _FORMATTER.vformat(template, (), params)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def placeholders(template: str) -> set[str]:
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat
