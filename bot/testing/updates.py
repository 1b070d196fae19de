"""Factories for realistic `telegram.Update` objects that agree with a FakeTelegram world."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from telegram import Bot, Update

from bot.testing.fake import FakeTelegram, JSONDict, chat_member_dict, utf16_len


def as_json(update: Update) -> JSONDict:
    """The update as Bot API JSON, for getUpdates (`fake.push_update`) or a webhook POST."""
    return update.to_dict()


def _emoji_reactions(emojis: Iterable[str]) -> list[JSONDict]:
    return [{"type": "emoji", "emoji": emoji} for emoji in emojis]


class UpdateFactory:
    """Builds updates from the fake's users and chats; messages are stored in the fake."""

    def __init__(self, fake: FakeTelegram, bot: Bot) -> None:
        self.fake = fake
        self.bot = bot
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)

    def _update(self, **payload: Any) -> Update:
        return Update.de_json(copy.deepcopy({"update_id": next(self._update_ids), **payload}), self.bot)

    def _timestamp(self, date: datetime | None = None) -> int:
        return int((date or self.fake.clock()).timestamp())

    def _file(self, kind: str) -> tuple[str, str]:
        number = next(self._file_ids)
        return f"AgACAgUAAxkBuser{kind}{number:04d}", f"AQADuser{kind}{number:04d}"

    # --- messages ----------------------------------------------------------------------------

    def message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        date: datetime | None = None,
        entities: list[JSONDict] | None = None,
    ) -> Update:
        """A text message; a leading /command gets its bot_command entity, as Telegram adds it."""
        found = list(entities or [])
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            found.insert(0, {"type": "bot_command", "offset": 0, "length": utf16_len(command)})
        extra: JSONDict = {"entities": found} if found else {}
        return self._new_message(chat_id, user_id, text, reply_to=reply_to, date=date, **extra)

    def command(self, chat_id: int, user_id: int, text: str, **options: Any) -> Update:
        """A /command message (`text` is e.g. "/start@jianfu_bot payload")."""
        if not text.startswith("/"):
            raise ValueError(f"a command starts with '/', got {text!r}")
        return self.message(chat_id, user_id, text, **options)

    def private(self, user_id: int, text: str, **options: Any) -> Update:
        """A message from a user in their private chat with the bot."""
        return self.message(user_id, user_id, text, **options)

    def _new_message(
        self, chat_id: int, user_id: int, text: str | None = None, *, reply_to: int | None = None, **extra: Any
    ) -> Update:
        if reply_to is not None:
            extra["reply_to_message_id"] = reply_to
        message = self.fake.add_message(chat_id, user_id, text, **extra)
        return self._update(message=message)

    def forwarded(self, chat_id: int, user_id: int, text: str, *, author_id: int) -> Update:
        """A text message `user_id` forwarded from `author_id`: Telegram names the author in it."""
        origin = {"type": "user", "sender_user": self.fake.user(author_id), "date": self._timestamp()}
        return self._new_message(chat_id, user_id, text, forward_origin=origin)

    def edited(self, chat_id: int, message_id: int, new_text: str, *, user_id: int) -> Update:
        """An edited_message update; the stored message takes the new text."""
        data = self.fake.telegram_message(chat_id, message_id)
        if data["from"]["id"] != user_id:
            raise ValueError(f"message {message_id} was sent by {data['from']['id']}, not {user_id}")
        data.pop("entities", None)
        data |= {"text": new_text, "edit_date": self._timestamp()}
        if new_text.startswith("/"):
            length = utf16_len(new_text.split(maxsplit=1)[0])
            data["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._update(edited_message=data)

    def sticker(self, chat_id: int, user_id: int, emoji: str, *, reply_to: int | None = None) -> Update:
        """A sticker message."""
        file_id, unique = self._file("sticker")
        sticker = {
            "file_id": file_id, "file_unique_id": unique, "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "type": "regular", "emoji": emoji,
        }  # fmt: skip
        return self._new_message(chat_id, user_id, reply_to=reply_to, sticker=sticker)

    def photo(self, chat_id: int, user_id: int, *, caption: str | None = None, reply_to: int | None = None) -> Update:
        """A photo message with a small and a large size."""
        file_id, unique = self._file("photo")
        sizes = [
            {"file_id": file_id + "s", "file_unique_id": unique + "s", "width": 90, "height": 120},
            {"file_id": file_id, "file_unique_id": unique, "width": 960, "height": 1280},
        ]
        extra: JSONDict = {"caption": caption} if caption is not None else {}
        return self._new_message(chat_id, user_id, reply_to=reply_to, photo=sizes, **extra)

    def document(
        self,
        chat_id: int,
        user_id: int,
        *,
        caption: str | None = None,
        file_name: str = "a.pdf",
        reply_to: int | None = None,
    ) -> Update:
        """A document message."""
        file_id, unique = self._file("document")
        mime = "application/pdf" if file_name.lower().endswith(".pdf") else "application/octet-stream"
        document = {"file_id": file_id, "file_unique_id": unique, "file_name": file_name, "mime_type": mime}
        extra: JSONDict = {"caption": caption} if caption is not None else {}
        return self._new_message(chat_id, user_id, reply_to=reply_to, document=document, **extra)

    def new_members(self, chat_id: int, user_ids: Iterable[int], *, from_user_id: int | None = None) -> Update:
        """A service message announcing joins; the users become members in the fake."""
        user_ids = list(user_ids)
        for user_id in user_ids:
            if user_id == self.fake.bot_id:
                self.fake.set_bot_member(chat_id, "member")
            else:
                self.fake.set_member(chat_id, user_id, "member")
        joined = [self.fake.user(user_id) for user_id in user_ids]
        sender = from_user_id if from_user_id is not None else user_ids[0]
        return self._new_message(chat_id, sender, new_chat_members=joined)

    # --- callbacks and reactions -------------------------------------------------------------

    def callback(self, user_id: int, chat_id: int, message_id: int, data: str) -> Update:
        """A button press on a stored bot message; the fake accepts one answer to it."""
        query_id = f"{self.fake.bot_id}{next(self._query_ids):08d}"
        self.fake.register_callback_query(query_id)
        query = {
            "id": query_id,
            "from": self.fake.user(user_id),
            "message": self.fake.telegram_message(chat_id, message_id),
            "chat_instance": str(-abs(chat_id) * 7 % 10**18),
            "data": data,
        }
        return self._update(callback_query=query)

    def reaction(
        self,
        chat_id: int,
        message_id: int,
        user_id: int,
        *,
        new: Iterable[str] = ("👍",),
        old: Iterable[str] = (),
    ) -> Update:
        """A user's reaction change on a message."""
        payload = {
            "chat": self.fake.chat(chat_id),
            "message_id": message_id,
            "user": self.fake.user(user_id),
            "date": self._timestamp(),
            "old_reaction": _emoji_reactions(old),
            "new_reaction": _emoji_reactions(new),
        }
        return self._update(message_reaction=payload)

    def reaction_count(self, chat_id: int, message_id: int, counts: Mapping[str, int]) -> Update:
        """Anonymous reaction totals on a message (channels and anonymous admins)."""
        reactions = [{"type": {"type": "emoji", "emoji": e}, "total_count": n} for e, n in counts.items()]
        payload = {
            "chat": self.fake.chat(chat_id),
            "message_id": message_id,
            "date": self._timestamp(),
            "reactions": reactions,
        }
        return self._update(message_reaction_count=payload)

    # --- membership --------------------------------------------------------------------------

    def my_chat_member(
        self,
        chat_id: int,
        from_user_id: int,
        *,
        old: str = "left",
        new: str = "member",
        rights: dict[str, Any] | None = None,
    ) -> Update:
        """The bot's own membership changes; the fake world follows (in private chats: block/unblock)."""
        bot_user = self.fake.bot_user
        if chat_id == from_user_id and (chat_id not in self.fake.chats or self.fake.chats[chat_id].is_private):
            self._apply_private(chat_id, new)
        else:
            self.fake.set_bot_member(chat_id, new, **(rights or {}))
        payload = self._member_update(chat_id, from_user_id, chat_member_dict(bot_user, old), bot_user, new, rights)
        return self._update(my_chat_member=payload)

    def _apply_private(self, user_id: int, new: str) -> None:
        if new == "kicked":
            self.fake.block_bot(user_id)
        else:
            self.fake.start_private_chat(user_id)

    def chat_member(
        self,
        chat_id: int,
        user_id: int,
        *,
        old: str = "member",
        new: str = "administrator",
        from_user_id: int | None = None,
        rights: dict[str, Any] | None = None,
    ) -> Update:
        """Another user's membership changes; by default an admin (the creator) made the change."""
        if from_user_id is None:
            # Joining and leaving are the user's own acts; anything else is done by an admin.
            own_act = new in ("member", "left") and old in ("left", "member")
            from_user_id = user_id if own_act else self._creator(chat_id)
        user = self.fake.user(user_id)
        self.fake.set_member(chat_id, user_id, new, **(rights or {}))
        payload = self._member_update(chat_id, from_user_id, chat_member_dict(user, old), user, new, rights)
        return self._update(chat_member=payload)

    def _creator(self, chat_id: int) -> int:
        members = self.fake.chats[chat_id].members
        return next(uid for uid, member in members.items() if member.status == "creator")

    def _member_update(
        self,
        chat_id: int,
        from_user_id: int,
        old: JSONDict,
        user: JSONDict,
        new: str,
        rights: dict[str, Any] | None,
    ) -> JSONDict:
        return {
            "chat": self.fake.chat(chat_id),
            "from": self.fake.user(from_user_id),
            "date": self._timestamp(),
            "old_chat_member": old,
            "new_chat_member": chat_member_dict(user, new, rights),
        }
