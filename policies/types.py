"""Neutral, frozen values the rules read: only bot/convert.py builds them from Telegram's types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChatType(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


class ContentKind(StrEnum):
    TEXT = "text"
    STICKER = "sticker"
    PHOTO = "photo"
    DOCUMENT = "document"
    SERVICE = "service"
    OTHER = "other"


@dataclass(frozen=True)
class Person:
    id: int
    display_name: str
    language_code: str | None = None
    is_bot: bool = False


@dataclass(frozen=True)
class ChatRef:
    id: int
    type: ChatType
    title: str = ""

    @property
    def is_group(self) -> bool:
        return self.type in (ChatType.GROUP, ChatType.SUPERGROUP)


@dataclass(frozen=True)
class Message:
    chat: ChatRef
    message_id: int
    date: datetime
    sender: Person | None
    kind: ContentKind = ContentKind.TEXT
    text: str = ""
    reply_to_message_id: int | None = None
    sticker_emoji: str | None = None
    edited: bool = False


@dataclass(frozen=True)
class BotRights:
    """The rights Jianfu needs in a group, as Telegram reports them for the bot."""

    is_admin: bool = False
    can_delete_messages: bool = False
    can_restrict_members: bool = False
    can_pin_messages: bool = False
    can_invite_users: bool = False
    can_change_info: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {
            "is_admin": self.is_admin,
            "can_delete_messages": self.can_delete_messages,
            "can_restrict_members": self.can_restrict_members,
            "can_pin_messages": self.can_pin_messages,
            "can_invite_users": self.can_invite_users,
            "can_change_info": self.can_change_info,
        }

    @classmethod
    def from_dict(cls, values: dict[str, bool] | None) -> BotRights:
        values = values or {}
        return cls(**{name: bool(values.get(name, False)) for name in cls().as_dict()})


class MemberStatus(StrEnum):
    CREATOR = "creator"
    ADMINISTRATOR = "administrator"
    MEMBER = "member"
    RESTRICTED = "restricted"
    LEFT = "left"
    KICKED = "kicked"

    @property
    def is_present(self) -> bool:
        return self not in (MemberStatus.LEFT, MemberStatus.KICKED)

    @property
    def is_admin(self) -> bool:
        return self in (MemberStatus.CREATOR, MemberStatus.ADMINISTRATOR)


@dataclass(frozen=True)
class MemberChange:
    """A chat_member or my_chat_member update: `subject` went from `old` to `new`."""

    chat: ChatRef
    actor: Person
    subject: Person
    old: MemberStatus
    new: MemberStatus
    date: datetime
    rights: BotRights = field(default_factory=BotRights)


@dataclass(frozen=True)
class Reaction:
    chat: ChatRef
    message_id: int
    person: Person | None
    date: datetime
    new: tuple[str, ...] = ()
    old: tuple[str, ...] = ()
