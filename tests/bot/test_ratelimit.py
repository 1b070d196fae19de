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


async def test_replicas_share_the_per_bot_limits() -> None:
    """Telegram's limits are per bot: two replicas each send at most half of them."""
    limiter = SendingRateLimiter(group_max_rate=2, group_time_period=3600)
    await limiter.initialize()
    limiter.share(2)
    assert limiter._base_limiter.max_rate == 15
    assert await asyncio.wait_for(call(limiter, "sendMessage"), timeout=5) is True
    with pytest.raises(TimeoutError):  # one message an hour into this group is this replica's half
        await asyncio.wait_for(call(limiter, "sendMessage"), timeout=0.2)
    limiter.share(1)
    assert limiter._base_limiter.max_rate == 30


async def test_each_replica_counts_the_live_ones(harness) -> None:
    from datetime import timedelta

    from storage.repositories.outbox import Replicas

    beat = timedelta(seconds=10)
    async with harness.session() as session:
        assert await Replicas(session).beat("a", harness.clock(), alive_within=beat * 3) == 1
        assert await Replicas(session).beat("b", harness.clock(), alive_within=beat * 3) == 2
    harness.clock.advance(timedelta(seconds=40))  # "b" stopped beating
    async with harness.session() as session:
        assert await Replicas(session).beat("a", harness.clock(), alive_within=beat * 3) == 1
        await Replicas(session).leave("a")
        assert await Replicas(session).beat("c", harness.clock(), alive_within=beat * 3) == 1
