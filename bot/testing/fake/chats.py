"""The records of the simulated world: chats, memberships with their rights, and stored messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.testing.fake.errors import JSONDict

ADMIN_FLAGS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
    "can_manage_video_chats", "can_restrict_members", "can_promote_members", "can_change_info",
    "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
    "can_pin_messages", "can_manage_topics",
)  # fmt: skip
ADMIN_OPTIONAL = (
    "can_post_messages", "can_edit_messages", "can_manage_direct_messages", "can_manage_tags", "custom_title",
)  # fmt: skip
# Fields PTB 22 requires of ChatMemberRestricted; ChatPermissions has the same ones, optional.
RESTRICTED_FLAGS = (
    "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
    "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
    "can_send_other_messages", "can_add_web_page_previews", "can_change_info", "can_invite_users",
    "can_pin_messages", "can_manage_topics", "can_edit_tag",
    # Optional in the signature, yet ChatMemberRestricted raises TypeError without it.
    "can_react_to_messages",
)  # fmt: skip
_STATUS_KEYS = {
    "creator": {"is_anonymous", "custom_title"},
    "administrator": {*ADMIN_FLAGS, *ADMIN_OPTIONAL},
    "member": {"until_date", "tag"},
    "restricted": {*RESTRICTED_FLAGS, "is_member", "until_date", "tag"},
    "left": set(),
    "kicked": {"until_date"},
}
PERMISSION_FLAGS = RESTRICTED_FLAGS
DEFAULT_PERMISSIONS: JSONDict = {
    **dict.fromkeys(PERMISSION_FLAGS, True),
    "can_change_info": False, "can_pin_messages": False, "can_manage_topics": False,
    "can_edit_tag": False,
}  # fmt: skip


def check_rights(status: str, rights: dict[str, Any]) -> None:
    """Raise ValueError unless `rights` are fields a ChatMember of `status` has."""
    if status not in _STATUS_KEYS:
        raise ValueError(f"unknown chat member status {status!r}")
    unknown = set(rights) - _STATUS_KEYS[status]
    if unknown:
        raise ValueError(f"not a field of a {status} ChatMember: {sorted(unknown)}")


def chat_member_dict(user: JSONDict, status: str, rights: dict[str, Any] | None = None) -> JSONDict:
    """A ChatMember dict with every field PTB 22 requires for `status`."""
    rights = dict(rights or {})
    check_rights(status, rights)
    base: JSONDict = {"status": status, "user": user}
    if status == "creator":
        base["is_anonymous"] = False
    elif status == "administrator":
        # can_manage_chat is implied by any administrator right.
        base |= dict.fromkeys(ADMIN_FLAGS, False) | {"can_manage_chat": True}
    elif status == "restricted":
        base |= dict.fromkeys(RESTRICTED_FLAGS, False) | {"is_member": True, "until_date": 0}
    elif status == "kicked":
        base["until_date"] = 0
    return base | rights


@dataclass
class Member:
    """A user's status in a group and the rights that come with it."""

    status: str
    rights: dict[str, Any] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        """Counted by getChatMemberCount."""
        return self.status in ("creator", "administrator", "member") or (
            self.status == "restricted" and self.rights.get("is_member", True)
        )


@dataclass
class StoredMessage:
    """A message as Telegram returns it (`data`) plus what the bot sent to produce it."""

    data: JSONDict
    parse_mode: str | None = None
    raw_text: str | None = None
    deleted: bool = False

    @property
    def sender_id(self) -> int | None:
        """The id of the `from` user."""
        return self.data.get("from", {}).get("id")

    def view(self) -> JSONDict:
        """The Telegram dict plus the fake's bookkeeping keys."""
        reply = self.data.get("reply_to_message")
        return self.data | {
            "parse_mode": self.parse_mode,
            "raw_text": self.raw_text,
            "reply_to_message_id": reply["message_id"] if reply else None,
            "deleted": self.deleted,
        }


@dataclass
class FakeChat:
    """A chat in the fake world; private chats have the user's id and `started`/`blocked` flags."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    members: dict[int, Member] = field(default_factory=dict)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    permissions: JSONDict = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    invite_links: dict[str, JSONDict] = field(default_factory=dict)
    primary_link: str | None = None
    pinned: list[int] = field(default_factory=list)
    blocked: bool = False
    next_message_id: int = 1

    @property
    def is_private(self) -> bool:
        """True for a one-to-one chat with a user."""
        return self.type == "private"
