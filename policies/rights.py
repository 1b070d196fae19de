"""Which of the bot's group rights are missing, and what each one is for."""

from __future__ import annotations

from dataclasses import dataclass

from policies.types import BotRights

# Right -> the feature that needs it, in the order the introduction lists them.
NEEDED_RIGHTS: tuple[tuple[str, str], ...] = (
    ("can_delete_messages", "remove_acks"),
    ("can_restrict_members", "close_groups"),
    ("can_pin_messages", "pin_notices"),
    ("can_invite_users", "revoke_links"),
    ("can_change_info", "rename_closed"),
)


@dataclass(frozen=True)
class RightsVerdict:
    """rule, hit, detail: what is missing and why it matters."""

    rule: str
    hit: bool
    missing: tuple[str, ...]
    is_admin: bool

    @property
    def detail(self) -> str:
        if not self.is_admin:
            return "the bot is not an administrator: it sees only commands and can change nothing"
        if self.missing:
            return "missing rights: " + ", ".join(self.missing)
        return "all rights present"


def missing_rights(rights: BotRights) -> RightsVerdict:
    """Every right Jianfu needs that the bot lacks (all of them when it is not an admin)."""
    present = rights.as_dict()
    missing = tuple(name for name, _use in NEEDED_RIGHTS if not (rights.is_admin and present[name]))
    return RightsVerdict("missing_rights", bool(missing), missing, rights.is_admin)
