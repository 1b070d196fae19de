"""The simulated world: users, chats, memberships and messages, how tests build it and read it back.

`World` holds the state and the checks every Bot API method shares (which chat a parameter names,
whether the bot may act there, storing a message); the method families in api_messages.py and
api_chats.py build on those protected helpers, and FakeTelegram (api.py) puts them together.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from telegram import Update

from bot.testing.fake.chats import FakeChat, Member, StoredMessage, chat_member_dict, check_rights
from bot.testing.fake.errors import (
    BLOCKED,
    CANT_INITIATE,
    CHAT_NOT_FOUND,
    FakeError,
    JSONDict,
    Reject,
    bad_request,
)


def unix_time(moment: datetime) -> int:
    """A datetime as the integer Unix time Telegram puts in `date` fields."""
    return int(moment.timestamp())


class World:
    """The fake Telegram's state and the lookups and checks its methods share."""

    def __init__(
        self,
        *,
        bot_id: int = 7000000001,
        bot_username: str = "jianfu_bot",
        bot_name: str = "减负 Jianfu",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.clock = clock or (lambda: datetime.now(UTC))
        self.users: dict[int, JSONDict] = {}
        self.chats: dict[int, FakeChat] = {}
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.webhook: JSONDict = {"url": ""}
        self.updates: list[JSONDict] = []
        self.allowed_updates: list[str] | None = None
        self.callback_queries: set[str] = set()
        self.answered_callbacks: dict[str, JSONDict] = {}
        self._log: list[StoredMessage] = []
        self._rng = random.Random(bot_id)  # Deterministic links and file ids across runs.
        self._file_counter = itertools.count(1)
        self.bot_user = self.add_user(bot_id, bot_name, username=bot_username, is_bot=True)

    # --- world building ----------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        is_bot: bool = False,
    ) -> JSONDict:
        """Register a user and return its Telegram User dict."""
        user: JSONDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        optional = {"last_name": last_name, "username": username}
        if not is_bot:
            optional["language_code"] = language_code
        user |= {key: value for key, value in optional.items() if value is not None}
        self.users[user_id] = user
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        creator_id: int,
        members: Iterable[int] = (),
        admins: Iterable[int] = (),
        type: str = "supergroup",
        username: str | None = None,
    ) -> JSONDict:
        """Create a group with the bot as a plain member; returns the Chat dict."""
        if type not in ("group", "supergroup"):
            raise ValueError(f"group type must be group or supergroup, not {type!r}")
        chat = FakeChat(chat_id, type, title=title, username=username)
        self.chats[chat_id] = chat
        self.set_member(chat_id, creator_id, "creator")
        for user_id in admins:
            self.set_member(chat_id, user_id, "administrator")
        for user_id in members:
            self.set_member(chat_id, user_id, "member")
        self.set_bot_member(chat_id, "member")
        return self.chat(chat_id)

    def start_private_chat(self, user_id: int) -> JSONDict:
        """The user presses /start: the bot may now message them (also undoes a block)."""
        self._user(user_id)
        chat = self.chats.setdefault(user_id, FakeChat(user_id, "private"))
        chat.blocked = False
        return self.chat(user_id)

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends to them answer 403."""
        self.start_private_chat(user_id)
        self.chats[user_id].blocked = True

    def set_member(self, chat_id: int, user_id: int, status: str, **rights: Any) -> JSONDict:
        """Set a user's status and rights in a group; returns the ChatMember dict."""
        check_rights(status, rights)
        self._user(user_id)
        self._group(chat_id).members[user_id] = Member(status, rights)
        return self.member(chat_id, user_id)

    def set_bot_member(self, chat_id: int, status: str, **rights: Any) -> JSONDict:
        """Set the bot's own status and rights in a group."""
        return self.set_member(chat_id, self.bot_id, status, **rights)

    def remove_bot(self, chat_id: int, kicked: bool = True) -> None:
        """The bot is removed from a group: every later call on that chat answers 403."""
        self.set_bot_member(chat_id, "kicked" if kicked else "left")

    def add_message(
        self, chat_id: int, from_user_id: int, text: str | None = None, *, date: datetime | None = None, **extra: Any
    ) -> JSONDict:
        """Store a user's message (so the bot can reply to or delete it); returns the Message dict."""
        sender = self._user(from_user_id)
        if chat_id == from_user_id and chat_id not in self.chats:
            self.start_private_chat(chat_id)  # A user can only write to a bot they have started.
        chat = self._known_chat(chat_id)
        if not chat.is_private and from_user_id not in chat.members:
            chat.members[from_user_id] = Member("member")
        content = dict(extra)
        reply_to = content.pop("reply_to_message_id", None)
        if reply_to is not None:
            target = self._reply_target(chat, reply_to, strict=False)
            if target is None:
                raise KeyError(f"no message {reply_to} in chat {chat_id} to reply to")
            content["reply_to_message"] = target
        if text is not None:
            content["text"] = text
        return self._store(chat, sender, content, date=date).data

    def push_update(self, update: JSONDict | Update) -> None:
        """Queue an update for getUpdates."""
        self.updates.append(update.to_dict() if isinstance(update, Update) else dict(update))

    def register_callback_query(self, query_id: str) -> None:
        """Make a callback query id answerable (the update factory does this)."""
        self.callback_queries.add(query_id)

    # --- inspection --------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[JSONDict]:
        """Parameters of every call to `method`, in order."""
        return [call.params for call in self.calls if call.method.lower() == method.lower()]

    def sent(self, chat_id: int | None = None, *, include_deleted: bool = False) -> list[JSONDict]:
        """Messages the bot sent, oldest first, with bookkeeping keys (see StoredMessage.view)."""
        return [
            stored.view()
            for stored in self._log
            if stored.sender_id == self.bot_id
            and (chat_id is None or stored.data["chat"]["id"] == chat_id)
            and (include_deleted or not stored.deleted)
        ]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """A stored message (deleted ones included, marked `deleted`), or None."""
        stored = self._stored(chat_id, message_id)
        return stored.view() if stored else None

    def telegram_message(self, chat_id: int, message_id: int) -> JSONDict:
        """A stored message exactly as Telegram would serialize it."""
        stored = self._stored(chat_id, message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        return stored.data

    def is_deleted(self, chat_id: int, message_id: int) -> bool:
        """Whether the message exists and was deleted."""
        stored = self._stored(chat_id, message_id)
        return bool(stored and stored.deleted)

    def reset_calls(self) -> None:
        """Forget recorded calls (not the world)."""
        self.calls.clear()
        self.unknown_calls.clear()

    def assert_no_unknown_calls(self) -> None:
        """Fail if the bot called a method this fake does not implement."""
        if self.unknown_calls:
            listed = ", ".join(f"{call.method}({call.params})" for call in self.unknown_calls)
            raise AssertionError(f"methods not implemented by FakeTelegram were called: {listed}")

    def user(self, user_id: int) -> JSONDict:
        """A registered user's User dict."""
        return self._user(user_id)

    def chat(self, chat_id: int) -> JSONDict:
        """A chat's short Chat dict, as found in messages and updates."""
        chat = self._known_chat(chat_id)
        if chat.is_private:
            user = self._user(chat.id)
            names = {key: user[key] for key in ("first_name", "last_name", "username") if key in user}
            return {"id": chat.id, "type": "private", **names}
        data: JSONDict = {"id": chat.id, "type": chat.type, "title": chat.title}
        return data | ({"username": chat.username} if chat.username else {})

    def member(self, chat_id: int, user_id: int) -> JSONDict:
        """A user's ChatMember dict in a chat ("left" when unknown to it)."""
        chat = self._known_chat(chat_id)
        user = self._user(user_id)
        if chat.is_private:
            status = "kicked" if chat.blocked and user_id == self.bot_id else "member"
            return chat_member_dict(user, status)
        member = chat.members.get(user_id, Member("left"))
        return chat_member_dict(user, member.status, member.rights)

    def member_status(self, chat_id: int, user_id: int) -> str:
        """A user's status string in a chat."""
        return self.member(chat_id, user_id)["status"]

    # --- lookups and checks ------------------------------------------------------------------

    def _user(self, user_id: int) -> JSONDict:
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}: call add_user first")
        return self.users[user_id]

    def _known_chat(self, chat_id: int) -> FakeChat:
        if chat_id not in self.chats:
            raise KeyError(f"unknown chat {chat_id}: call add_group or start_private_chat first")
        return self.chats[chat_id]

    def _group(self, chat_id: int) -> FakeChat:
        chat = self._known_chat(chat_id)
        if chat.is_private:
            raise ValueError(f"chat {chat_id} is private; memberships exist only in groups")
        return chat

    def _stored(self, chat_id: int, message_id: int) -> StoredMessage | None:
        chat = self.chats.get(chat_id)
        return chat.messages.get(message_id) if chat else None

    def _resolve(self, raw: Any) -> FakeChat:
        """The chat a chat_id parameter names, if the bot may act in it."""
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == raw), None)
            if chat is None:
                raise Reject(CHAT_NOT_FOUND)
            return self._accessible(chat)
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise Reject(CHAT_NOT_FOUND) from None
        if chat_id in self.chats:
            return self._accessible(self.chats[chat_id])
        raise Reject(CANT_INITIATE if chat_id in self.users else CHAT_NOT_FOUND)

    def _accessible(self, chat: FakeChat) -> FakeChat:
        if chat.is_private:
            if chat.blocked:
                raise Reject(BLOCKED)
            return chat
        status = chat.members.get(self.bot_id, Member("left")).status
        kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
        if status == "kicked":
            raise Reject(FakeError(403, f"Forbidden: bot was kicked from the {kind}"))
        if status == "left":
            raise Reject(FakeError(403, f"Forbidden: bot is not a member of the {kind}"))
        return chat

    def _chat_param(self, params: JSONDict, key: str = "chat_id") -> FakeChat:
        if key not in params:
            raise Reject(bad_request(f"{key} is empty"))
        return self._resolve(params[key])

    def _bot_can(self, chat: FakeChat, right: str) -> bool:
        """Whether the bot holds an administrator right (creators hold them all)."""
        if chat.is_private:
            return right == "can_pin_messages"  # Bots may pin in private chats.
        member = chat.members.get(self.bot_id, Member("left"))
        if member.status == "creator":
            return True
        return member.status == "administrator" and bool(member.rights.get(right))

    def _require(self, chat: FakeChat, right: str, error: FakeError) -> None:
        if not self._bot_can(chat, right):
            raise Reject(error)

    def _require_send(self, chat: FakeChat, permission: str, what: str) -> None:
        """Members follow the chat's default permissions; restricted members their own."""
        if chat.is_private:
            return
        member = chat.members[self.bot_id]
        allowed = {
            "member": chat.permissions.get(permission, True),
            "restricted": member.rights.get(permission, False),
        }.get(member.status, True)
        if not allowed:
            raise Reject(bad_request(f"not enough rights to send {what} to the chat"))

    def _now(self) -> datetime:
        return self.clock()

    # --- messages ----------------------------------------------------------------------------

    def _store(
        self, chat: FakeChat, sender: JSONDict, content: JSONDict, *, date: datetime | None = None, **meta: Any
    ) -> StoredMessage:
        data: JSONDict = {
            "message_id": chat.next_message_id,
            "from": sender,
            "chat": self.chat(chat.id),
            "date": unix_time(date or self._now()),
            **content,
        }
        chat.next_message_id += 1
        stored = StoredMessage(data, **meta)
        chat.messages[data["message_id"]] = stored
        self._log.append(stored)
        return stored

    def _reply_target(self, chat: FakeChat, message_id: int, *, strict: bool) -> JSONDict | None:
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            if strict:
                raise Reject(bad_request("message to be replied not found"))
            return None
        # Telegram nests only one level of replies.
        return {k: v for k, v in stored.data.items() if k != "reply_to_message"}
