"""Telegram errors never crash the bot nor lose a recorded fact; failures are logged without content."""

from __future__ import annotations

import logging
import sys

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from sqlalchemy import func, select
from telegram.error import NetworkError, TimedOut
from yarl import URL

from bot.actions import Outcome, classify
from bot.logs import PlainFormatter, Redactor
from bot.telegram_http import PoolTimeout
from bot.testing.fake import (
    BAD_GATEWAY,
    BLOCKED,
    CANT_DELETE,
    CANT_INITIATE,
    CHAT_NOT_FOUND,
    DELETE_NOT_FOUND,
    KICKED,
    NOT_ENOUGH_RIGHTS,
    NOT_MODIFIED,
    SERVER_ERROR,
    TIMEOUT,
    FakeError,
    too_many_requests,
)
from storage.models import Chat, Department, Person
from storage.repositories.departments import DepartmentRepository
from tests.bot.conftest import ADMIN, GROUP, MEMBER, SUPERVISOR, TOKEN, Harness

SEND_FAILURES = [too_many_requests(3), BAD_GATEWAY, SERVER_ERROR, TIMEOUT, CHAT_NOT_FOUND, BLOCKED]


@pytest.mark.parametrize("failure", SEND_FAILURES, ids=lambda f: getattr(f, "description", f))
async def test_a_failed_answer_keeps_the_recorded_change(harness: Harness, failure: FakeError | str, caplog) -> None:
    harness.fake.fail_next("sendMessage", failure)
    with caplog.at_level(logging.INFO):
        await harness.private(SUPERVISOR, "/dept add 民政局")
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Department)) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await harness.private(SUPERVISOR, "/dept list")
    assert "民政局" in harness.last_text(SUPERVISOR)


async def test_a_person_who_blocked_the_bot_is_remembered_as_unreachable(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    harness.fake.block_bot(MEMBER)
    await harness.private(MEMBER, "/help")
    async with harness.session() as session:
        assert (await session.get(Person, MEMBER)).has_private_chat is False


async def test_a_private_my_chat_member_update_tracks_blocking(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await harness.send(harness.updates.my_chat_member(MEMBER, MEMBER, old="member", new="kicked"))
    async with harness.session() as session:
        assert (await session.get(Person, MEMBER)).has_private_chat is False
    await harness.send(harness.updates.my_chat_member(MEMBER, MEMBER, old="kicked", new="member"))
    async with harness.session() as session:
        assert (await session.get(Person, MEMBER)).has_private_chat is True


async def test_kicked_while_answering_in_a_group_is_recorded(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    harness.fake.fail_next("sendMessage", KICKED)
    await harness.command(GROUP, MEMBER, "/start")
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).bot_status == "kicked"


async def test_telegram_refusing_the_admin_list_refuses_safely(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, MEMBER, old="left", new="member"))
    async with harness.session() as session:
        await DepartmentRepository(session).add("民政局", "mz", 1, harness.clock())
        (await session.get(Chat, GROUP)).admins_synced_at = None
    harness.fake.fail_next("getChatAdministrators", BAD_GATEWAY)
    await harness.command(GROUP, ADMIN, "/register 民政局")  # ADMIN is still cached from the join
    assert harness.last_text(GROUP) == "本群已登记到「民政局」。"


async def test_a_bug_in_a_handler_is_logged_with_the_update_id_only(harness: Harness, caplog, monkeypatch) -> None:
    secret_text = "机密：王芳家的门牌号"

    async def broken(*args, **kwargs):
        raise ValueError(f"boom {secret_text}")

    monkeypatch.setattr(DepartmentRepository, "all", broken)
    update = harness.updates.command(GROUP, ADMIN, f"/register {secret_text}")
    with caplog.at_level(logging.DEBUG):
        await harness.send(update)
        await harness.private(MEMBER, "/start")  # the bot keeps working
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"update {update.update_id} failed: builtins.ValueError at " + errors[0].split(" at ", 1)[1]]
    assert "departments.py" in errors[0]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert secret_text not in everything and "门牌号" not in everything
    assert TOKEN not in everything
    assert "减负助手" in harness.texts(MEMBER)[0]
    # The failed update is one transaction: nothing it wrote before the failure stays.
    async with harness.session() as session:
        assert await session.get(Person, ADMIN) is None
        assert await session.get(Person, MEMBER) is not None


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        (CANT_DELETE, Outcome.TOO_OLD),
        (DELETE_NOT_FOUND, Outcome.NOT_FOUND),
        (NOT_MODIFIED, Outcome.DONE),
        (NOT_ENOUGH_RIGHTS, Outcome.NO_RIGHTS),
        (FakeError(400, "Bad Request: CHAT_ADMIN_REQUIRED"), Outcome.NO_RIGHTS),
        (CHAT_NOT_FOUND, Outcome.UNREACHABLE),
        (KICKED, Outcome.KICKED),
        (FakeError(403, "Forbidden: bot was kicked from the group chat"), Outcome.KICKED),
        (FakeError(403, "Forbidden: bot is not a member of the supergroup chat"), Outcome.KICKED),
        (BLOCKED, Outcome.UNREACHABLE),
        (CANT_INITIATE, Outcome.UNREACHABLE),
        (too_many_requests(5), Outcome.RETRY_LATER),
        (BAD_GATEWAY, Outcome.RETRY_LATER),
        (SERVER_ERROR, Outcome.RETRY_LATER),
        # A timeout may hide a call Telegram carried out: only what is harmless to repeat is repeated.
        (TIMEOUT, Outcome.UNCERTAIN),
        (FakeError(400, "Bad Request: something new"), Outcome.FAILED),
    ],
)
async def test_classify_maps_real_error_shapes(harness: Harness, failure, outcome: Outcome) -> None:
    from telegram.error import TelegramError

    harness.fake.fail_next("deleteMessage", failure)
    with pytest.raises(TelegramError) as caught:
        await harness.app.bot.delete_message(GROUP, 1)
    assert classify(caught.value) is outcome


def _caused(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


TELEGRAM = ConnectionKey("api.telegram.org", 443, True, True, None, None, None)
PROXY = aiohttp.RequestInfo(URL("http://proxy.local:3128"), "CONNECT", CIMultiDictProxy(CIMultiDict()))


def _failed(error: Exception) -> NetworkError:
    """PTB's error for an aiohttp failure, as bot/telegram_http.py raises it."""
    wrapper = TimedOut() if isinstance(error, TimeoutError) else NetworkError(f"aiohttp.{type(error).__name__}: x")
    return _caused(wrapper, error)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        # The request never left: trying again is safe.
        (_failed(aiohttp.ClientConnectorError(TELEGRAM, ConnectionRefusedError(111, "refused"))), Outcome.RETRY_LATER),
        (_failed(aiohttp.ClientConnectorDNSError(TELEGRAM, OSError(-2, "Name not known"))), Outcome.RETRY_LATER),
        (_failed(aiohttp.ClientProxyConnectionError(TELEGRAM, OSError(111, "refused"))), Outcome.RETRY_LATER),
        (_failed(aiohttp.ClientHttpProxyError(PROXY, (), status=407, message="auth")), Outcome.RETRY_LATER),
        (_failed(aiohttp.ConnectionTimeoutError("slow connect")), Outcome.RETRY_LATER),
        (_caused(TimedOut("Pool timeout: all 16 connections"), PoolTimeout("busy")), Outcome.RETRY_LATER),
        (TimedOut("Pool timeout: All connections in the connection pool are occupied."), Outcome.RETRY_LATER),
        # Telegram answered 5xx: it did not act.
        (NetworkError("Bad Gateway"), Outcome.RETRY_LATER),
        # Sent, and then no answer or a broken connection: Telegram may have acted.
        (_failed(aiohttp.SocketTimeoutError("slow answer")), Outcome.UNCERTAIN),
        (_failed(TimeoutError()), Outcome.UNCERTAIN),  # an upload's overall bound
        (_failed(aiohttp.ServerDisconnectedError()), Outcome.UNCERTAIN),
        (_failed(aiohttp.ClientOSError(104, "Connection reset by peer")), Outcome.UNCERTAIN),
        (_failed(aiohttp.ClientConnectionResetError("Cannot write to closing transport")), Outcome.UNCERTAIN),
        (_failed(aiohttp.ClientPayloadError("cut short")), Outcome.UNCERTAIN),
        (_failed(aiohttp.ClientResponseError(PROXY, (), status=400, message="bad status line")), Outcome.UNCERTAIN),
    ],
    ids=lambda value: type(value.__cause__ or value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transport_failures_say_whether_telegram_may_have_acted(error: Exception, outcome: Outcome) -> None:
    assert classify(error) is outcome


def test_the_formatter_redacts_the_token_from_any_log_line() -> None:
    redactor = Redactor()
    redactor.add_token(TOKEN)
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "POST https://api.telegram.org/bot%s/getMe", (TOKEN,), None
    )
    line = PlainFormatter(verbose=False, redact=redactor).format(record)
    assert line.endswith("httpx: POST https://api.telegram.org/bot<token>/getMe")


def test_the_formatter_redacts_the_token_from_a_logged_traceback() -> None:
    from telegram.error import InvalidToken

    try:
        raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
    except InvalidToken:
        record = logging.LogRecord("telegram.ext", logging.ERROR, __file__, 1, "Invalid token", (), sys.exc_info())
    redactor = Redactor()
    redactor.add_token(TOKEN)
    logged = PlainFormatter(verbose=True, redact=redactor).format(record)
    assert TOKEN not in logged and "InvalidToken" in logged


async def test_with_no_cached_admins_and_telegram_failing_privileged_commands_are_refused(harness: Harness) -> None:
    await harness.private(SUPERVISOR, "/dept add 民政局")
    harness.fake.fail_next("getChatAdministrators", BAD_GATEWAY)
    await harness.command(GROUP, ADMIN, "/register 民政局")
    assert harness.last_text(GROUP) == "抱歉，这个命令只有本群管理员或督导可以使用。"
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).department_id is None
