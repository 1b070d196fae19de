"""The Bot API methods on chats: pins, callback answers, chat info, permissions, titles, invite links, leaving."""

from __future__ import annotations

import string

from bot.testing.fake.chats import PERMISSION_FLAGS, FakeChat, Member
from bot.testing.fake.errors import (
    CHANGE_INFO_RIGHTS,
    INVITE_RIGHTS,
    NOT_ENOUGH_RIGHTS,
    RESTRICT_RIGHTS,
    JSONDict,
    Reject,
    bad_request,
)
from bot.testing.fake.world import World

# ChatFullInfo requires accepted_gift_types, and AcceptedGiftTypes requires all of these.
_GIFT_TYPES = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")


class ChatMethods(World):
    """pin/unpin, answerCallbackQuery, getChat*, setChatPermissions, setChatTitle, invite links, leaveChat."""

    # --- API: pins, callbacks, chat info -----------------------------------------------------

    def _api_pin_chat_message(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_pin_messages", NOT_ENOUGH_RIGHTS)
        message_id = int(params.get("message_id", 0))
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise Reject(bad_request("message to pin not found"))
        chat.pinned = [m for m in chat.pinned if m != message_id] + [message_id]
        return True

    def _api_unpin_chat_message(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_pin_messages", NOT_ENOUGH_RIGHTS)
        message_id = params.get("message_id")
        if message_id is None:
            chat.pinned = chat.pinned[:-1]
        elif int(message_id) in chat.pinned:
            chat.pinned.remove(int(message_id))
        else:
            raise Reject(bad_request("message to unpin not found"))
        return True

    def _api_unpin_all_chat_messages(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_pin_messages", NOT_ENOUGH_RIGHTS)
        chat.pinned = []
        return True

    def _api_answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self.callback_queries:
            raise Reject(bad_request("query is too old and response timeout expired or query ID is invalid"))
        if len(params.get("text", "")) > 200:
            raise Reject(bad_request("MESSAGE_TOO_LONG"))
        self.callback_queries.discard(query_id)  # A query can be answered once.
        self.answered_callbacks[query_id] = params
        return True

    def _api_get_chat(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        info = self.chat(chat.id) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(_GIFT_TYPES, False),
        }
        if not chat.is_private:
            info["permissions"] = chat.permissions
        if chat.primary_link:
            info["invite_link"] = chat.primary_link
        if chat.pinned:
            info["pinned_message"] = chat.messages[chat.pinned[-1]].data
        return info

    def _api_get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        user_id = int(params.get("user_id", 0))
        if user_id not in self.users:
            raise Reject(bad_request("user not found"))
        return self.member(chat.id, user_id)

    def _api_get_chat_administrators(self, params: JSONDict) -> list[JSONDict]:
        chat = self._chat_param(params)
        if chat.is_private:
            raise Reject(bad_request("there are no administrators in the private chat"))
        admins = [uid for uid, m in chat.members.items() if m.status in ("creator", "administrator")]
        return [self.member(chat.id, uid) for uid in admins]

    def _api_get_chat_member_count(self, params: JSONDict) -> int:
        chat = self._chat_param(params)
        if chat.is_private:
            return 2
        return sum(1 for member in chat.members.values() if member.present)

    # --- API: chat administration ------------------------------------------------------------

    def _api_set_chat_permissions(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_restrict_members", RESTRICT_RIGHTS)
        permissions = params.get("permissions")
        if not isinstance(permissions, dict):
            raise Reject(bad_request('field "permissions" must be of type Object'))
        unknown = set(permissions) - set(PERMISSION_FLAGS)
        if unknown:
            raise Reject(bad_request(f"unsupported permissions: {sorted(unknown)}"))
        # Telegram treats an omitted permission as false.
        new = dict.fromkeys(PERMISSION_FLAGS, False) | permissions
        if new == chat.permissions:
            raise Reject(bad_request("CHAT_NOT_MODIFIED"))
        chat.permissions = new
        return True

    def _api_set_chat_title(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_change_info", CHANGE_INFO_RIGHTS)
        title = str(params.get("title", "")).strip()
        if not 1 <= len(title) <= 128:
            raise Reject(bad_request("chat title is empty" if not title else "chat title is too long"))
        if title == chat.title:
            raise Reject(bad_request("chat title is not modified"))
        chat.title = title
        return True

    def _new_link(self) -> str:
        alphabet = string.ascii_letters + string.digits + "_-"
        return "https://t.me/+" + "".join(self._rng.choice(alphabet) for _ in range(16))

    @staticmethod
    def _link_options(params: JSONDict) -> JSONDict:
        keys = ("name", "expire_date", "member_limit", "creates_join_request")
        return {key: params[key] for key in keys if key in params}

    def add_bot_invite_link(self, chat_id: int) -> str:
        """An invite link the bot made earlier (whatever its rights are now); its URL."""
        url = self._new_link()
        self._group(chat_id).invite_links[url] = {
            "invite_link": url, "creator": self.bot_user, "creates_join_request": False,
            "is_primary": False, "is_revoked": False,
        }  # fmt: skip
        return url

    def invite_link_revoked(self, chat_id: int, url: str) -> bool:
        return bool(self._group(chat_id).invite_links[url]["is_revoked"])

    def _api_create_chat_invite_link(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        options = self._link_options(params)
        if options.get("member_limit") and options.get("creates_join_request"):
            raise Reject(bad_request("member limit can't be set on links that need approval"))
        link = {
            "invite_link": self._new_link(), "creator": self.bot_user, "creates_join_request": False,
            "is_primary": False, "is_revoked": False,
        } | options  # fmt: skip
        chat.invite_links[link["invite_link"]] = link
        return link

    def _chat_link(self, chat: FakeChat, params: JSONDict) -> JSONDict:
        link = chat.invite_links.get(str(params.get("invite_link", "")))
        if link is None:
            raise Reject(bad_request("INVITE_HASH_EXPIRED"))
        return link

    def _api_edit_chat_invite_link(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        link = self._chat_link(chat, params)
        if link["is_revoked"]:
            raise Reject(bad_request("INVITE_REVOKED_MISSING"))
        link |= self._link_options(params)
        return link

    def _api_revoke_chat_invite_link(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        link = self._chat_link(chat, params)
        link["is_revoked"] = True
        if link["is_primary"]:
            self._export_primary(chat)  # Telegram replaces a revoked primary link at once.
        return link

    def _export_primary(self, chat: FakeChat) -> str:
        if chat.primary_link:
            chat.invite_links[chat.primary_link]["is_revoked"] = True
        url = self._new_link()
        chat.invite_links[url] = {
            "invite_link": url, "creator": self.bot_user, "creates_join_request": False,
            "is_primary": True, "is_revoked": False,
        }  # fmt: skip
        chat.primary_link = url
        return url

    def _api_export_chat_invite_link(self, params: JSONDict) -> str:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        return self._export_primary(chat)

    def _api_leave_chat(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        if chat.is_private:
            raise Reject(bad_request("chat member status can't be changed in private chats"))
        chat.members[self.bot_id] = Member("left")
        return True

    def _api_send_chat_action(self, params: JSONDict) -> bool:
        self._chat_param(params)
        if not params.get("action"):
            raise Reject(bad_request("wrong parameter action in request"))
        return True
