"""Which language a reply is in: group override, then the person's choice, then Telegram's."""

from __future__ import annotations

SUPPORTED = ("zh-CN", "en")


def normalize_language(code: str | None) -> str | None:
    """Map a Telegram language_code or a typed choice to a supported language, or None."""
    if not code:
        return None
    lowered = code.strip().lower().replace("_", "-")
    if lowered.startswith("zh") or lowered in ("cn", "中文"):
        return "zh-CN"
    if lowered.startswith("en"):
        return "en"
    return None


def pick_language(
    *,
    default: str,
    group_override: str | None = None,
    person_choice: str | None = None,
    telegram_code: str | None = None,
) -> str:
    for candidate in (group_override, person_choice, normalize_language(telegram_code)):
        if candidate in SUPPORTED:
            return candidate
    return default
