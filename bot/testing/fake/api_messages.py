"""The Bot API methods that send, copy, forward, edit and delete messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bot.testing.fake.chats import FakeChat, Member, StoredMessage
from bot.testing.fake.errors import CANT_DELETE, DELETE_NOT_FOUND, NOT_MODIFIED, JSONDict, Reject, bad_request
from bot.testing.fake.html import HtmlParser
from bot.testing.fake.world import World, unix_time

_MAX_TEXT = 4096
_MAX_CAPTION = 1024
_DELETE_WINDOW = timedelta(hours=48)


class MessageMethods(World):
    """sendMessage and its kin, copyMessage, forwardMessage, editMessage*, deleteMessage(s)."""

    # --- message content ---------------------------------------------------------------------

    def _reply_content(self, chat: FakeChat, params: JSONDict) -> JSONDict:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return {}
        target_chat = self._resolve(reply["chat_id"]) if "chat_id" in reply else chat
        strict = not reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply", False))
        target = self._reply_target(target_chat, int(message_id), strict=strict)
        return {"reply_to_message": target} if target else {}

    @staticmethod
    def _markup_content(params: JSONDict) -> JSONDict:
        """Telegram echoes only inline keyboards back in the Message."""
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return {}
        for row in markup["inline_keyboard"]:
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    raise Reject(bad_request("BUTTON_DATA_INVALID"))
        return {"reply_markup": markup}

    def _formatted(
        self, params: JSONDict, key: str, *, limit: int, required: bool
    ) -> tuple[str | None, list[JSONDict]]:
        """Text (or caption) after entity parsing, checked against Telegram's limits."""
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise Reject(bad_request("message text is empty"))
            return None, []
        entities_key = "entities" if key == "text" else "caption_entities"
        text, entities = str(raw), list(params.get(entities_key) or [])
        if params.get("parse_mode") == "HTML":
            text, entities = HtmlParser(text).parse()
        if required and not text.strip():
            raise Reject(bad_request("message text is empty"))
        if len(text) > limit:
            raise Reject(bad_request("message is too long" if key == "text" else "message caption is too long"))
        return text, entities

    def _text_content(self, params: JSONDict) -> JSONDict:
        text, entities = self._formatted(params, "text", limit=_MAX_TEXT, required=True)
        return {"text": text} | ({"entities": entities} if entities else {})

    def _caption_content(self, params: JSONDict) -> JSONDict:
        caption, entities = self._formatted(params, "caption", limit=_MAX_CAPTION, required=False)
        if caption is None:
            return {}
        return {"caption": caption} | ({"caption_entities": entities} if entities else {})

    def _send(self, chat: FakeChat, params: JSONDict, content: JSONDict, raw_key: str | None) -> JSONDict:
        content = content | self._reply_content(chat, params) | self._markup_content(params)
        stored = self._store(
            chat, self.bot_user, content, parse_mode=params.get("parse_mode"), raw_text=params.get(raw_key or "")
        )
        return stored.data

    def _file(self, params: JSONDict, key: str) -> tuple[str, str]:
        """A file id and unique id; a file_id string is kept, uploads and URLs get a new one."""
        number = next(self._file_counter)
        value = params.get(key)
        unique = f"AgADfake{number:04d}"
        if isinstance(value, str) and not value.startswith(("attach://", "http://", "https://")):
            return value, unique
        return f"BQACAgUAAxkBfake{key}{number:04d}", unique

    # --- API: sending ------------------------------------------------------------------------

    def _api_send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_messages", "text messages")
        return self._send(chat, params, self._text_content(params), "text")

    def _api_send_photo(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_photos", "photos")
        file_id, unique = self._file(params, "photo")
        sizes = [
            {"file_id": f"{file_id}", "file_unique_id": f"{unique}s", "width": 90, "height": 67, "file_size": 1200},
            {"file_id": f"{file_id}", "file_unique_id": unique, "width": 1280, "height": 960, "file_size": 98000},
        ]
        return self._send(chat, params, {"photo": sizes} | self._caption_content(params), "caption")

    def _api_send_document(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_documents", "documents")
        file_id, unique = self._file(params, "document")
        document = {"file_id": file_id, "file_unique_id": unique, "file_name": "document", "file_size": 4096}
        return self._send(chat, params, {"document": document} | self._caption_content(params), "caption")

    def _api_send_sticker(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_other_messages", "stickers")
        file_id, unique = self._file(params, "sticker")
        sticker = {
            "file_id": file_id, "file_unique_id": unique, "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "type": "regular", "emoji": params.get("emoji", "👍"),
        }  # fmt: skip
        return self._send(chat, params, {"sticker": sticker}, None)

    _COPYABLE = ("text", "entities", "caption", "caption_entities", "photo", "document", "sticker")

    def _source(self, params: JSONDict, action: str) -> StoredMessage:
        chat = self._chat_param(params, "from_chat_id")
        stored = chat.messages.get(int(params.get("message_id", 0)))
        if stored is None or stored.deleted:
            raise Reject(bad_request(f"message to {action} not found"))
        if not any(key in stored.data for key in self._COPYABLE):
            verb = "forwarded" if action == "forward" else "copied"
            raise Reject(bad_request(f"message can't be {verb}"))
        return stored

    def _api_copy_message(self, params: JSONDict) -> JSONDict:
        source = self._source(params, "copy")
        chat = self._chat_param(params)
        content = {k: v for k, v in source.data.items() if k in self._COPYABLE}
        if "caption" in params:
            content = {k: v for k, v in content.items() if k not in ("caption", "caption_entities")}
            content |= self._caption_content(params)
        sent = self._send(chat, params, content, "caption")
        return {"message_id": sent["message_id"]}

    def _api_forward_message(self, params: JSONDict) -> JSONDict:
        source = self._source(params, "forward")
        chat = self._chat_param(params)
        origin = {"type": "user", "sender_user": source.data["from"], "date": source.data["date"]}
        content = {k: v for k, v in source.data.items() if k in self._COPYABLE}
        stored = self._store(chat, self.bot_user, content | {"forward_origin": origin})
        return stored.data

    # --- API: editing and deleting -----------------------------------------------------------

    def _editable(self, params: JSONDict) -> StoredMessage:
        if "inline_message_id" in params:
            raise Reject(bad_request("inline messages are not modelled by FakeTelegram"))
        chat = self._chat_param(params)
        stored = chat.messages.get(int(params.get("message_id", 0)))
        if stored is None or stored.deleted:
            raise Reject(bad_request("message to edit not found"))
        if stored.sender_id != self.bot_id:
            raise Reject(bad_request("message can't be edited"))
        return stored

    def _apply_edit(self, stored: StoredMessage, changes: JSONDict, removed: Iterable[str]) -> JSONDict:
        new = {k: v for k, v in stored.data.items() if k not in removed} | changes
        if {k: v for k, v in new.items() if k != "edit_date"} == {
            k: v for k, v in stored.data.items() if k != "edit_date"
        }:
            raise Reject(NOT_MODIFIED)
        stored.data = new | {"edit_date": unix_time(self._now())}
        return stored.data

    def _api_edit_message_text(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        if "text" not in stored.data:
            raise Reject(bad_request("there is no text in the message to edit"))
        # Editing without reply_markup drops the inline keyboard, as Telegram does.
        changes = self._text_content(params) | self._markup_content(params)
        result = self._apply_edit(stored, changes, removed=("entities", "reply_markup"))
        stored.parse_mode, stored.raw_text = params.get("parse_mode"), params.get("text")
        return result

    def _api_edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        return self._apply_edit(stored, self._markup_content(params), removed=("reply_markup",))

    def _check_deletable(self, chat: FakeChat, stored: StoredMessage) -> None:
        if self._now() - datetime.fromtimestamp(stored.data["date"], UTC) > _DELETE_WINDOW:
            raise Reject(CANT_DELETE)
        if stored.sender_id == self.bot_id or chat.is_private:
            return  # Bots delete their own messages, and incoming ones in private chats.
        member = chat.members.get(self.bot_id, Member("left"))
        in_basic_group_as_admin = chat.type == "group" and member.status == "administrator"
        if not (in_basic_group_as_admin or self._bot_can(chat, "can_delete_messages")):
            raise Reject(CANT_DELETE)

    def _api_delete_message(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        stored = chat.messages.get(int(params.get("message_id", 0)))
        if stored is None or stored.deleted:
            raise Reject(DELETE_NOT_FOUND)
        self._check_deletable(chat, stored)
        stored.deleted = True
        return True

    def _api_delete_messages(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        ids = list(params.get("message_ids") or [])
        if not 1 <= len(ids) <= 100:
            raise Reject(bad_request("message_ids must contain 1-100 message identifiers"))
        found = [chat.messages[i] for i in ids if i in chat.messages and not chat.messages[i].deleted]
        for stored in found:  # Check all first: the call deletes everything or nothing.
            self._check_deletable(chat, stored)
        for stored in found:
            stored.deleted = True
        return True
