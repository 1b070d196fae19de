"""An in-memory Telegram Bot API double at PTB's HTTP seam, for tests and `jianfu demo`.

errors: Telegram's error answers (the catalogue tests inject); html: the HTML parse mode; chats and
world: the simulated users, chats, members and messages; api, api_messages, api_chats: FakeTelegram
and the Bot API methods it answers.
"""

from bot.testing.fake.api import Call, FakeTelegram
from bot.testing.fake.chats import (
    ADMIN_FLAGS,
    ADMIN_OPTIONAL,
    DEFAULT_PERMISSIONS,
    PERMISSION_FLAGS,
    RESTRICTED_FLAGS,
    FakeChat,
    Member,
    StoredMessage,
    chat_member_dict,
)
from bot.testing.fake.errors import (
    BAD_GATEWAY,
    BLOCKED,
    CANT_DELETE,
    CANT_INITIATE,
    CHANGE_INFO_RIGHTS,
    CHAT_NOT_FOUND,
    DELETE_NOT_FOUND,
    INVITE_RIGHTS,
    KICKED,
    NOT_ENOUGH_RIGHTS,
    NOT_MODIFIED,
    RESTRICT_RIGHTS,
    SERVER_ERROR,
    TIMEOUT,
    TIMEOUT_AFTER_ACTING,
    FakeError,
    JSONDict,
    bad_request,
    too_many_requests,
)
from bot.testing.fake.html import parse_html, utf16_len

__all__ = [
    "ADMIN_FLAGS",
    "ADMIN_OPTIONAL",
    "BAD_GATEWAY",
    "BLOCKED",
    "CANT_DELETE",
    "CANT_INITIATE",
    "CHANGE_INFO_RIGHTS",
    "CHAT_NOT_FOUND",
    "DEFAULT_PERMISSIONS",
    "DELETE_NOT_FOUND",
    "INVITE_RIGHTS",
    "KICKED",
    "NOT_ENOUGH_RIGHTS",
    "NOT_MODIFIED",
    "PERMISSION_FLAGS",
    "RESTRICTED_FLAGS",
    "RESTRICT_RIGHTS",
    "SERVER_ERROR",
    "TIMEOUT",
    "TIMEOUT_AFTER_ACTING",
    "Call",
    "FakeChat",
    "FakeError",
    "FakeTelegram",
    "JSONDict",
    "Member",
    "StoredMessage",
    "bad_request",
    "chat_member_dict",
    "parse_html",
    "too_many_requests",
    "utf16_len",
]
