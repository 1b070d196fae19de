"""Short transactions of many concurrent callers, written together: one commit for all.

Recording an outcome is a few tiny statements; with many chats in flight, one transaction
each would be mostly begin and commit. Callers queue their work; while one transaction is
being written the next callers wait, and the next transaction takes them all (the classic
group commit: no timer, so a caller alone is written at once). If a shared transaction
fails, each caller's work is tried again in a transaction of its own, so one bad caller
cannot fail the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.logs import brief
from storage.db import Database

log = logging.getLogger(__name__)

Work = Callable[[AsyncSession], Awaitable[Any]]
# A commit shared by more callers than this is split (keeps one transaction short).
MAX_SHARED = 200


class GroupCommit:
    def __init__(
        self,
        db: Database,
        *,
        when_shared: Callable[[AsyncSession], None] | None = None,
    ) -> None:
        self.db = db
        # Told when a transaction is shared by several callers: they may gather writes, to be
        # written in one statement before it commits (storage.db.before_commit) instead of one each.
        self.when_shared = when_shared
        self._waiting: list[tuple[Work, asyncio.Future[Any]]] = []
        self._writing = False
        self._writer: asyncio.Task[None] | None = None

    async def run(self, work: Work) -> Any:
        """Run `work(session)` in a committed transaction (shared with others); its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if not self._writing:
            self._writing = True
            # Referenced until it ends: asyncio keeps only a weak reference to a task, and the
            # callers' futures would wait forever for one collected mid-way.
            self._writer = asyncio.get_running_loop().create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_SHARED], self._waiting[MAX_SHARED:]
                await self._write(batch)
        finally:
            self._writing = False

    async def _write(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        if len(batch) > 1:
            try:
                async with self.db.transaction() as session:
                    if self.when_shared is not None:
                        self.when_shared(session)
                    results = [await work(session) for work, _future in batch]
            except Exception as error:
                # One of them failed, or a gathered write found a row not ours: each on its own below.
                log.info("a shared commit of %d is written one by one: %s", len(batch), brief(error))
            else:
                for (_work, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                return
        for work, future in batch:
            try:
                async with self.db.transaction() as session:
                    result = await work(session)
            except Exception as error:
                if not future.done():
                    future.set_exception(error)
            else:
                if not future.done():
                    future.set_result(result)
