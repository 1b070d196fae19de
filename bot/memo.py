"""Results worth computing once for many recipients (a week's scoreboard, its chart), kept in Deps.memo."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.context import Deps

# Every supervisor's digest of a week is the same: computed once, kept this long (clock time).
MEMO_TTL = timedelta(minutes=10)


async def remembered(deps: Deps, key: tuple[Any, ...], compute: Callable[[], Awaitable[Any]]) -> Any:
    """The value computed for `key` less than MEMO_TTL ago, else a fresh one."""
    now = deps.clock()
    entry = deps.memo.get(key)
    if entry is not None and now - entry[0] < MEMO_TTL:
        return entry[1]
    value = await compute()
    for old in [old for old, (at, _value) in deps.memo.items() if now - at >= MEMO_TTL]:
        del deps.memo[old]
    deps.memo[key] = (now, value)
    return value
