"""Telegram's error answers, as the double sends them: the catalogue tests inject and the methods raise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class FakeError:
    """An error answer in Telegram's shape; `retry_after` adds the flood-control parameters."""

    code: int
    description: str
    retry_after: int | None = None

    def response(self) -> tuple[int, bytes]:
        """The HTTP status and JSON body Telegram would send."""
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return self.code, json.dumps(body).encode()


CANT_DELETE = FakeError(400, "Bad Request: message can't be deleted")
DELETE_NOT_FOUND = FakeError(400, "Bad Request: message to delete not found")
NOT_MODIFIED = FakeError(
    400,
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message",
)
CHAT_NOT_FOUND = FakeError(400, "Bad Request: chat not found")
NOT_ENOUGH_RIGHTS = FakeError(400, "Bad Request: not enough rights to manage pinned messages in the chat")
RESTRICT_RIGHTS = FakeError(400, "Bad Request: not enough rights to restrict/unrestrict chat member")
CHANGE_INFO_RIGHTS = FakeError(400, "Bad Request: not enough rights to change chat title")
INVITE_RIGHTS = FakeError(400, "Bad Request: not enough rights to manage chat invite link")
KICKED = FakeError(403, "Forbidden: bot was kicked from the supergroup chat")
BLOCKED = FakeError(403, "Forbidden: bot was blocked by the user")
CANT_INITIATE = FakeError(403, "Forbidden: bot can't initiate conversation with a user")
BAD_GATEWAY = FakeError(502, "Bad Gateway")
SERVER_ERROR = FakeError(500, "Internal Server Error")
TIMEOUT = "timeout"
# The call is carried out, and then its answer is lost (the client times out): the hard case.
TIMEOUT_AFTER_ACTING = "timeout after acting"


def too_many_requests(retry_after: int) -> FakeError:
    """A 429 flood-control answer."""
    return FakeError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def bad_request(detail: str) -> FakeError:
    """A 400 answer with Telegram's "Bad Request: " prefix."""
    return FakeError(400, f"Bad Request: {detail}")


class Reject(Exception):
    """Aborts a Bot API method with a Telegram error answer (the double turns it into the HTTP response)."""

    def __init__(self, error: FakeError) -> None:
        super().__init__(error.description)
        self.error = error
