"""A group's settings and close progress go through the chat repository, typed, in the row's JSON column."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from policies.group_settings import CloseProgress, GroupSettings
from policies.received import Mode
from storage.db import Database
from storage.models import Chat
from storage.repositories.chats import ChatRepository

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
GROUP = -100


async def stored_json(db: Database) -> dict:
    async with db.transaction() as session:
        return (await session.get(Chat, GROUP)).settings


async def test_settings_and_close_progress_share_the_row_without_overwriting_each_other(db: Database) -> None:
    async with db.transaction() as session:
        chats = ChatRepository(session)
        await chats.ensure(GROUP, "群", "supergroup", NOW)
        await chats.save_settings(GROUP, GroupSettings(received=Mode.RECORD, digest=True))
        await chats.save_close_progress(GROUP, CloseProgress(summary_message_id=7), close_step=2)
    async with db.transaction() as session:
        chats = ChatRepository(session)
        assert await chats.group_settings(GROUP) == GroupSettings(received=Mode.RECORD, digest=True)
        assert await chats.close_progress(GROUP) == CloseProgress(summary_message_id=7)
        assert (await chats.get(GROUP)).close_step == 2
        assert (await chats.snapshot(GROUP)).settings == GroupSettings(received=Mode.RECORD, digest=True)
    assert await stored_json(db) == {"received": "record", "digest": "on", "close_summary_message_id": 7}


async def test_an_old_rows_garbage_is_tolerated_logged_by_count_and_dropped_on_the_next_write(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with db.transaction() as session:
        await ChatRepository(session).ensure(GROUP, "群", "supergroup", NOW)
        await ChatRepository(session).set_fields(GROUP, settings={"quiet": "secret words", "received": "off", "x": [1]})
    with caplog.at_level(logging.WARNING, logger="storage.repositories.chats"):
        async with db.transaction() as session:
            chats = ChatRepository(session)
            settings = await chats.group_settings(GROUP)
            assert settings == GroupSettings(received=Mode.OFF)
            await chats.save_settings(GROUP, settings)
    assert await stored_json(db) == {"received": "off", "x": [1]}  # "x": another version's, kept
    assert "1 stored settings" in caplog.text and "secret" not in caplog.text


async def test_a_group_without_a_row_has_no_settings(db: Database) -> None:
    async with db.transaction() as session:
        chats = ChatRepository(session)
        assert await chats.group_settings(GROUP) == GroupSettings()
        assert await chats.close_progress(GROUP) == CloseProgress()
