"""The aiohttp Bot API transport against real loopback servers: answers, uploads, failures, proxies.

Each failure is checked for what bot/actions.py makes of it (the request never left, or Telegram
may have acted) and for the bot token, which the URL carries and no error text may.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs

import aiohttp
import pytest
from telegram import Bot, InputFile
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest

from bot.actions import Outcome, classify
from bot.telegram_http import NOT_SENT, AiohttpRequest, PoolTimeout
from bot.testing.fake import FakeTelegram
from bot.testing.http_double import HttpTelegram
from bot.testing.process import free_port
from policies.clock import FakeClock

# Shaped like a real token, so a leak of either half would show.
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
SECRET = TOKEN.partition(":")[2]
GROUP, OWNER = -1001234567890, 101
ME = b'{"ok":true,"result":{"id":7000000001,"is_bot":true,"first_name":"Jianfu","username":"jianfu_bot"}}'
TRUE = b'{"ok":true,"result":true}'
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
SHORT = 0.2  # seconds: the timeouts of calls that are meant to time out


# --- misbehaving servers -----------------------------------------------------------------------

Behaviour = Callable[["Scripted", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Scripted:
    """A server on 127.0.0.1, on the test's loop, that records each request's head and acts out a behaviour."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.heads: list[str] = []
        self.bodies: list[bytes] = []
        self.released = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Scripted:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.released.set()  # held connections end on their own
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await self.behaviour(self, reader, writer)
        writer.close()

    async def read_head(self, reader: asyncio.StreamReader) -> str:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        self.heads.append(head)
        return head

    async def read_request(self, reader: asyncio.StreamReader) -> None:
        head = await self.read_head(reader)
        length = next((int(line.split(":")[1]) for line in head.lower().splitlines() if "content-length" in line), 0)
        self.bodies.append(await reader.readexactly(length))


async def answers(server: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Telegram's answer: the bot for getMe, True for anything else."""
    await server.read_request(reader)
    body = ME if "/getMe HTTP" in server.heads[-1] else TRUE
    # Connection: close, as the server closes each connection after one answer.
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()


async def never_answers(server: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await server.read_head(reader)
    await server.released.wait()


async def closes_after_reading(server: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await server.read_request(reader)


async def answers_garbage(server: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await server.read_request(reader)
    writer.write(b"HTTP/1.1 2x0 what\r\n\r\n")
    await writer.drain()
    await server.released.wait()


async def resets_mid_upload(server: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await server.read_head(reader)
    # SO_LINGER 0: the close is a reset, while the client is still writing the body.
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def never_reads_the_body(server: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await server.read_head(reader)
    await server.released.wait()


async def refuses_tunnels(server: Scripted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await server.read_request(reader)
    writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full, so a new connection attempt waits (Linux drops the SYN)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        try:
            yield port
        finally:
            for filler in fillers:
                filler.close()


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
async def request_() -> AsyncIterator[AiohttpRequest]:
    transport = AiohttpRequest(read_timeout=SHORT, connect_timeout=SHORT, pool_timeout=SHORT)
    await transport.initialize()
    yield transport
    await transport.shutdown()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variables but those a test sets: loopback calls go straight to their server."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def api(base: str, method: str = "getMe") -> str:
    return f"{base}/bot{TOKEN}/{method}"


async def failure(call: Awaitable[object]) -> TelegramError:
    """The error a call ends with, after checking that none of its texts carries the token."""
    with pytest.raises(TelegramError) as caught:
        await asyncio.wait_for(call, 10)  # a transport that hangs fails here instead of forever
    error = caught.value
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    texts += [f"{link!s} {link!r}" for link in _chain(error)]
    assert not [text for text in texts if TOKEN in text or SECRET in text]
    return error


def _chain(error: BaseException) -> Iterator[BaseException]:
    link: BaseException | None = error
    while link is not None:
        yield link
        link = link.__cause__ or link.__context__


# --- answers and uploads -----------------------------------------------------------------------


@pytest.fixture
def double(clock: FakeClock) -> Iterator[HttpTelegram]:
    fake = FakeTelegram(clock=clock)
    fake.add_user(OWNER, "王")
    fake.add_group(GROUP, "社区工作群", creator_id=OWNER)
    with HttpTelegram(TOKEN, fake) as served:
        yield served


def client(base_url: str, transport: BaseRequest) -> Bot:
    return Bot(TOKEN, base_url=f"{base_url}/bot", request=transport, get_updates_request=transport)


async def test_a_call_returns_telegrams_answer(double: HttpTelegram) -> None:
    async with client(double.base_url, AiohttpRequest()) as bot:
        me = await bot.get_me()
        sent = await bot.send_message(GROUP, "<b>请于周五前</b>报送", parse_mode="HTML")
    assert (me.username, me.id) == ("jianfu_bot", double.fake.bot_id)
    assert sent.text == "请于周五前报送" and double.acted("sendMessage")[0].params["text"] == "<b>请于周五前</b>报送"


async def test_an_ordinary_call_is_a_form_post_with_ptbs_user_agent(request_: AiohttpRequest) -> None:
    async with Scripted(answers) as server, client(server.url, request_) as bot:
        assert await bot.set_chat_title(GROUP, "收到 & 好的") is True
    head = server.heads[-1]
    assert head.startswith(f"POST /bot{TOKEN}/setChatTitle HTTP/1.1\r\n")
    assert f"User-Agent: {BaseRequest.USER_AGENT}\r\n" in head
    assert "Content-Type: application/x-www-form-urlencoded\r\n" in head
    assert parse_qs(server.bodies[-1].decode()) == {"chat_id": [str(GROUP)], "title": ["收到 & 好的"]}


async def test_uploads_arrive_with_their_bytes_and_the_other_parameters(double: HttpTelegram, tmp_path: Path) -> None:
    chart = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400  # binary, larger than one socket write
    ledger = tmp_path / "台账.pdf"
    ledger.write_bytes(b"%PDF-1.4 " + b"\x00\xff" * 5000)
    async with client(double.base_url, AiohttpRequest()) as bot:
        await bot.send_photo(GROUP, photo=InputFile(chart, filename="chart.png"), caption="<b>本周</b>图表")
        with ledger.open("rb") as handle:  # a file object, streamed rather than read first
            await bot.send_document(GROUP, InputFile(handle, filename=ledger.name, read_file_handle=False))
    assert double.fake.uploads == [
        ("sendPhoto", GROUP, "chart.png", chart),
        ("sendDocument", GROUP, "台账.pdf", ledger.read_bytes()),
    ]
    [photo] = double.acted("sendPhoto")
    assert photo.params["caption"] == "<b>本周</b>图表" and photo.params["chat_id"] == GROUP


async def test_a_long_poll_waits_its_own_time_on_top_of_the_read_timeout(double: HttpTelegram) -> None:
    async with client(double.base_url, AiohttpRequest(read_timeout=SHORT)) as bot:
        assert await bot.get_updates(timeout=1) == ()  # 1 s of polling with a 0.2 s read timeout


# --- failures: sent or not ---------------------------------------------------------------------


async def test_a_refused_connection_was_not_sent(request_: AiohttpRequest) -> None:
    error = await failure(request_.post(api(f"http://127.0.0.1:{free_port()}")))
    assert isinstance(error, NetworkError) and isinstance(error.__cause__, aiohttp.ClientConnectorError)
    assert error.message.startswith("aiohttp.ClientConnectorError: Cannot connect to host 127.0.0.1")
    assert classify(error) is Outcome.RETRY_LATER


async def test_a_connection_not_made_in_time_was_not_sent(request_: AiohttpRequest) -> None:
    with unanswered_port() as port:
        error = await failure(request_.post(api(f"http://127.0.0.1:{port}")))
    # Linux lets the attempt wait (a timeout); elsewhere it may be refused: neither was sent.
    assert isinstance(error.__cause__, NOT_SENT)
    assert classify(error) is Outcome.RETRY_LATER


async def test_a_server_that_never_answers_times_out_and_may_have_acted(request_: AiohttpRequest) -> None:
    async with Scripted(never_answers) as server:
        error = await failure(request_.post(api(server.url)))
        assert len(server.heads) == 1  # the request arrived
    assert isinstance(error, TimedOut) and isinstance(error.__cause__, aiohttp.SocketTimeoutError)
    assert classify(error) is Outcome.UNCERTAIN


async def test_a_connection_closed_after_the_request_may_have_acted(request_: AiohttpRequest) -> None:
    async with Scripted(closes_after_reading) as server:
        error = await failure(request_.post(api(server.url)))
    assert isinstance(error.__cause__, aiohttp.ServerDisconnectedError)
    assert error.message == "aiohttp.ServerDisconnectedError: Server disconnected"
    assert classify(error) is Outcome.UNCERTAIN


async def test_a_malformed_answer_may_have_acted_and_names_no_url_path(request_: AiohttpRequest) -> None:
    async with Scripted(answers_garbage) as server:
        error = await failure(request_.post(api(server.url)))
    assert isinstance(error.__cause__, aiohttp.ClientResponseError)
    assert f"url='{server.url}'" in error.message  # the origin only
    assert classify(error) is Outcome.UNCERTAIN


async def test_a_reset_during_an_upload_may_have_acted(double: HttpTelegram) -> None:
    async with Scripted(resets_mid_upload) as server:
        transport = AiohttpRequest(read_timeout=SHORT)
        await transport.initialize()
        try:
            error = await failure(client(server.url, transport).send_document(GROUP, b"\x00" * 8_000_000))
        finally:
            await transport.shutdown()
    # The reset meets the body being written (ClientOSError) or the answer awaited.
    assert isinstance(error, NetworkError) and isinstance(error.__cause__, aiohttp.ClientConnectionError)
    assert classify(error) is Outcome.UNCERTAIN


async def test_an_upload_the_server_stops_reading_ends_at_its_overall_bound() -> None:
    # aiohttp has no write timeout: connect + media write + read bound the whole upload.
    transport = AiohttpRequest(read_timeout=SHORT, connect_timeout=SHORT, media_write_timeout=SHORT)
    await transport.initialize()
    try:
        async with Scripted(never_reads_the_body) as server:
            error = await failure(client(server.url, transport).send_document(GROUP, b"\x00" * 32_000_000))
    finally:
        await transport.shutdown()
    assert isinstance(error, TimedOut)
    assert classify(error) is Outcome.UNCERTAIN  # part of it went out


async def test_a_full_pool_fails_fast_and_sends_nothing() -> None:
    transport = AiohttpRequest(connection_pool_size=1, read_timeout=30, pool_timeout=SHORT)
    await transport.initialize()
    try:
        async with Scripted(never_answers) as server:
            held = asyncio.create_task(transport.post(api(server.url)))
            while not server.heads:  # the first call holds the only connection
                await asyncio.sleep(0.01)
            error = await failure(transport.post(api(server.url, "deleteMessage")))
            assert len(server.heads) == 1  # the second never reached the server
            held.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await held
    finally:
        await transport.shutdown()
    assert isinstance(error, TimedOut) and isinstance(error.__cause__, PoolTimeout)
    assert error.message.startswith("Pool timeout: all 1 connections")
    assert classify(error) is Outcome.RETRY_LATER


async def test_a_call_may_set_its_own_read_timeout() -> None:
    transport = AiohttpRequest(read_timeout=60)
    await transport.initialize()
    try:
        async with Scripted(never_answers) as server:
            error = await failure(transport.post(api(server.url), read_timeout=SHORT))
    finally:
        await transport.shutdown()
    assert isinstance(error, TimedOut)


# --- life cycle --------------------------------------------------------------------------------


async def test_initialize_and_shutdown_may_repeat(double: HttpTelegram) -> None:
    transport = AiohttpRequest()
    await transport.initialize()
    first = transport.session
    await transport.initialize()
    assert transport.session is first  # already open: kept
    for _ in range(2):
        # PTB initializes and shuts down the request and the getUpdates request together: here both are one.
        async with client(double.base_url, transport) as bot:
            assert (await bot.get_me()).username == "jianfu_bot"
        assert transport.session is None
        await transport.shutdown()  # again: nothing to do
    assert first is not None and first.closed


async def test_a_call_before_initialize_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request(api("http://127.0.0.1:9"), "POST")


# --- proxies -----------------------------------------------------------------------------------


async def test_https_proxy_from_the_environment_carries_the_tunnel(environment: pytest.MonkeyPatch) -> None:
    async with Scripted(refuses_tunnels) as proxy:
        environment.setenv("HTTPS_PROXY", proxy.url)
        transport = AiohttpRequest(read_timeout=SHORT, connect_timeout=SHORT)
        await transport.initialize()
        try:
            error = await failure(transport.post(api("https://api.telegram.invalid")))
        finally:
            await transport.shutdown()
    assert proxy.heads[0].startswith("CONNECT api.telegram.invalid:443 HTTP/1.1\r\n")
    assert isinstance(error.__cause__, aiohttp.ClientHttpProxyError)
    assert classify(error) is Outcome.RETRY_LATER  # the proxy refused: nothing reached Telegram


async def test_http_proxy_with_credentials_forwards_the_call(environment: pytest.MonkeyPatch) -> None:
    async with Scripted(answers) as proxy:
        environment.setenv("http_proxy", f"http://jianfu:s3cret@127.0.0.1:{proxy.port}")
        transport = AiohttpRequest(read_timeout=SHORT)
        await transport.initialize()
        try:
            me = await transport.post(api("http://api.telegram.invalid"))
        finally:
            await transport.shutdown()
    assert me["username"] == "jianfu_bot"
    [head] = proxy.heads
    assert head.startswith(f"POST http://api.telegram.invalid/bot{TOKEN}/getMe HTTP/1.1\r\n")
    assert "Proxy-Authorization: Basic amlhbmZ1OnMzY3JldA==\r\n" in head  # jianfu:s3cret


async def test_no_proxy_exempts_a_host(double: HttpTelegram, environment: pytest.MonkeyPatch) -> None:
    environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens
    environment.setenv("NO_PROXY", "localhost,127.0.0.1")
    async with client(double.base_url, AiohttpRequest()) as bot:
        assert (await bot.get_me()).username == "jianfu_bot"


async def test_a_socks_proxy_is_refused_with_a_reason(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("ALL_PROXY", "socks5://jianfu:s3cret@127.0.0.1:1080")
    transport = AiohttpRequest()
    await transport.initialize()
    try:
        error = await failure(transport.post(api("https://api.telegram.invalid")))
    finally:
        await transport.shutdown()
    assert "socks5:// proxies are not supported" in error.message and "s3cret" not in error.message
