"""Rate limiting shaped to what Telegram limits: sending into a group, not deleting from it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.constants import FloodLimit
from telegram.ext import AIORateLimiter

# Telegram's "about 20 messages a minute into one group" and "about 30 a second overall" are
# limits on sending messages. PTB's AIORateLimiter applies them to every call that names a
# chat, so removing 40 acks in a busy minute would queue deletions for two minutes and, with
# updates processed in order, hold up every other group meanwhile.
SENDING_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendSticker",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendAnimation",
        "sendMediaGroup",
        "sendPoll",
        "sendLocation",
        "sendContact",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)


class SendingRateLimiter(AIORateLimiter):
    """AIORateLimiter's throttling for sending methods; everything else only retries on 429.

    Telegram's limits are per bot, not per process: with N replicas each takes 1/N of them
    (see `share`, called as replicas come and go).
    """

    def __init__(
        self,
        overall_max_rate: float = FloodLimit.MESSAGES_PER_SECOND,
        overall_time_period: float = 1,
        group_max_rate: float = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        group_time_period: float = 60,
        max_retries: int = 0,
    ) -> None:
        super().__init__(overall_max_rate, overall_time_period, group_max_rate, group_time_period, max_retries)
        self.per_bot = (overall_max_rate, overall_time_period, group_max_rate)
        self.replicas = 1

    def share(self, replicas: int) -> None:
        """Send at most 1/`replicas` of the per-bot rates, so all replicas together stay within them."""
        replicas = max(replicas, 1)
        if replicas == self.replicas:
            return
        self.replicas = replicas
        overall, period, group = self.per_bot
        self._base_limiter = AsyncLimiter(max_rate=overall / replicas, time_period=period)
        self._group_max_rate = group / replicas
        # New per-group limiters take the new rate as groups send again.
        self._group_limiters.clear()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint not in SENDING_ENDPOINTS:
            # Without a chat id the limiter skips its per-chat and per-group buckets; the
            # request itself still carries the chat id (in `args`; `data` is only for limiting).
            data = {key: value for key, value in data.items() if key != "chat_id"}
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
