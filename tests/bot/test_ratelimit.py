"""The rate limiter throttles sending into a group, never deleting or editing there."""

from __future__ import annotations

import asyncio

import pytest

from bot.ratelimit import SendingRateLimiter

GROUP = -1001


async def call(limiter: SendingRateLimiter, endpoint: str) -> bool:
    async def callback(*args, **kwargs) -> bool:
        return True

    data = {"chat_id": GROUP, "message_id": 1}
    return await limiter.process_request(callback, (endpoint, data), {}, endpoint, data, None)


async def test_deletes_and_edits_in_a_group_are_not_held_by_the_group_limit() -> None:
    limiter = SendingRateLimiter(group_max_rate=1, group_time_period=3600)
    await limiter.initialize()
    for endpoint in ("deleteMessage", "deleteMessage", "editMessageText", "getChatAdministrators"):
        assert await asyncio.wait_for(call(limiter, endpoint), timeout=5) is True


async def test_sending_into_a_group_is_still_throttled() -> None:
    limiter = SendingRateLimiter(group_max_rate=1, group_time_period=3600)
    await limiter.initialize()
    assert await asyncio.wait_for(call(limiter, "sendMessage"), timeout=5) is True
    # The bucket allows one message an hour: a second one waits (the wait is cut short here).
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call(limiter, "sendMessage"), timeout=0.2)
