"""Telegram's types -> the neutral values in policies.types; the only module that knows both."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import (
    Chat,
    ChatMember,
    ChatMemberAdministrator,
    ChatMemberUpdated,
    MessageReactionUpdated,
    ReactionTypeEmoji,
    Update,
    User,
)
from telegram import Message as TgMessage

from policies.types import (
    BotRights,
    ChatRef,
    ChatType,
    ContentKind,
    MemberChange,
    MemberStatus,
    Message,
    Person,
    Reaction,
)


def person(user: User) -> Person:
    return Person(user.id, display_name(user), user.language_code, user.is_bot)


def display_name(user: User) -> str:
    """The person's name as shown; an empty one (Telegram allows it) falls back to the username or id."""
    return clean(user.full_name or "").strip() or (user.username or str(user.id))


def clean(text: str) -> str:
    """Text as stored and compared: NUL characters (which PostgreSQL's text type refuses) removed."""
    return text.replace("\x00", "") if "\x00" in text else text


def chat_ref(chat: Chat) -> ChatRef:
    try:
        chat_type = ChatType(chat.type)
    except ValueError:
        chat_type = ChatType.CHANNEL
    return ChatRef(chat.id, chat_type, clean(chat.title or chat.full_name or ""))


def message(raw: TgMessage, *, edited: bool = False) -> Message:
    kind, text, emoji = _content(raw)
    return Message(
        chat=chat_ref(raw.chat),
        message_id=raw.message_id,
        date=_utc(raw.edit_date if edited and raw.edit_date else raw.date),
        sender=person(raw.from_user) if raw.from_user else None,
        kind=kind,
        text=clean(text),
        reply_to_message_id=replied.message_id if (replied := replied_message(raw)) else None,
        sticker_emoji=emoji,
        edited=edited,
    )


def replied_message(raw: TgMessage) -> TgMessage | None:
    """The message `raw` answers; a post in a forum topic is not a reply to the topic's opener."""
    replied = raw.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    return replied


def human_message(update: Update) -> Message | None:
    """The update's message or edit as a neutral Message, or None when no person sent it."""
    raw = update.effective_message
    if raw is None or raw.from_user is None or raw.from_user.is_bot:
        return None
    return message(raw, edited=update.edited_message is not None)


def _content(raw: TgMessage) -> tuple[ContentKind, str, str | None]:
    if raw.sticker:
        return ContentKind.STICKER, "", raw.sticker.emoji
    if raw.photo:
        return ContentKind.PHOTO, raw.caption or "", None
    if raw.document:
        return ContentKind.DOCUMENT, raw.caption or "", None
    if raw.text is not None:
        return ContentKind.TEXT, raw.text, None
    if raw.new_chat_members or raw.left_chat_member or raw.new_chat_title:
        return ContentKind.SERVICE, "", None
    return ContentKind.OTHER, raw.caption or "", None


def member_status(member: ChatMember) -> MemberStatus:
    try:
        return MemberStatus(member.status)
    except ValueError:
        return MemberStatus.LEFT


def bot_rights(member: ChatMember) -> BotRights:
    if not isinstance(member, ChatMemberAdministrator):
        return BotRights(is_admin=member.status == ChatMember.OWNER)
    return BotRights(
        is_admin=True,
        can_delete_messages=member.can_delete_messages,
        can_restrict_members=member.can_restrict_members,
        can_pin_messages=bool(member.can_pin_messages),
        can_invite_users=member.can_invite_users,
        can_change_info=member.can_change_info,
    )


def member_change(update: ChatMemberUpdated) -> MemberChange:
    return MemberChange(
        chat=chat_ref(update.chat),
        actor=person(update.from_user),
        subject=person(update.new_chat_member.user),
        old=member_status(update.old_chat_member),
        new=member_status(update.new_chat_member),
        date=_utc(update.date),
        rights=bot_rights(update.new_chat_member),
    )


def reaction(update: MessageReactionUpdated) -> Reaction:
    return Reaction(
        chat=chat_ref(update.chat),
        message_id=update.message_id,
        person=person(update.user) if update.user else None,
        date=_utc(update.date),
        new=_emojis(update.new_reaction),
        old=_emojis(update.old_reaction),
    )


def _emojis(reactions: tuple[object, ...]) -> tuple[str, ...]:
    # Custom emoji and paid reactions still count as reactions; they are named by their type.
    return tuple(r.emoji if isinstance(r, ReactionTypeEmoji) else getattr(r, "type", "?") for r in reactions)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
