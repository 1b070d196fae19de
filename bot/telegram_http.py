"""The Bot API transport: python-telegram-bot's BaseRequest on one aiohttp session.

PTB's own HTTPXRequest spends about four times the CPU on a getMe or a deleteMessage (anyio
cancel scopes, sniffio lookups, two socket writes; tests/perf/bench_http_transport.py), and every
removed ack costs Bot API calls, so the transport sits on the latency path. Failures become PTB's
TimedOut or NetworkError with the aiohttp error as their cause: bot/actions.py tells from it
whether the request left this process (NOT_SENT). No error's text carries the bot token,
although the URL does (/bot<TOKEN>/method).
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
import re
import ssl
from collections.abc import Iterator
from urllib.request import getproxies, proxy_bypass

import aiohttp
import certifi
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

from bot.logs import Redactor

__all__ = ["NOT_SENT", "AiohttpRequest"]

# Failures that happen before a byte of the request is written, so Telegram cannot have acted.
# In aiohttp 3.x a request fails in one of two phases (client.py, _connect_and_send_request):
# getting a connection (connector.connect) or sending on it and reading the answer.
NOT_SENT: tuple[type[BaseException], ...] = (
    # Refused, unreachable, DNS failure, TLS handshake or certificate failure, proxy unreachable:
    # all subclasses (ClientConnectorDNSError, ClientProxyConnectionError, ClientSSLError ...).
    aiohttp.ClientConnectorError,
    # No connection in time: DNS, TCP connect, TLS or the proxy tunnel took longer than the
    # connect timeout, or no pooled connection came free (aiohttp raises it for both, and this
    # transport's own pool wait raises its subclass PoolTimeout). Its parent ServerTimeoutError
    # also covers SocketTimeoutError, the read timeout after sending, so it is not listed.
    aiohttp.ConnectionTimeoutError,
    # The proxy refused the CONNECT tunnel to Telegram (for https://), so nothing was sent on.
    aiohttp.ClientHttpProxyError,
)
# Everything else happens on a connection that has taken the request, or may have: a read
# timeout (SocketTimeoutError), ServerDisconnectedError, ClientOSError while writing or reading,
# ClientPayloadError (an answer cut short), ClientResponseError (a malformed answer). Those
# leave Telegram's action unknown. A stale pooled connection that the server closed before our
# request fails the same way, so it counts as unknown too; aiohttp does not retry a POST there.


class PoolTimeout(aiohttp.ConnectionTimeoutError):
    """No pooled connection came free in time (aiohttp's own error for that, told apart for the message)."""


# PTB's URLs: <base>/bot<TOKEN>/<method> and <base>/file/bot<TOKEN>/<path>.
_TOKEN_IN_URL = re.compile(r"/bot([^/]+)/")
# Idle connections are closed after this long, as httpx does (its keep-alive expiry).
KEEPALIVE_SECONDS = 5.0


class AiohttpRequest(BaseRequest):
    """PTB's BaseRequest on aiohttp: pooled connections, PTB's per-call timeouts, proxies from the environment."""

    __slots__ = ("_proxies", "_session", "_size", "_slots", "_timeouts", "_tls")

    def __init__(
        self,
        connection_pool_size: int = 16,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._size = connection_pool_size
        self._timeouts = _Timeouts(read_timeout, write_timeout, connect_timeout, pool_timeout, media_write_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tls: ssl.SSLContext | None = None
        # The proxy for each origin called, read from the environment once per session.
        self._proxies: dict[str, URL | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts.read

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The open session (None before initialize and after shutdown)."""
        return self._session

    async def initialize(self) -> None:
        """Open the session on the running loop; calling it again while open does nothing."""
        if self._session is not None and not self._session.closed:
            return
        self._tls = self._tls or tls_context()
        self._slots = asyncio.Semaphore(self._size)
        self._proxies = {}
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._size, ssl=self._tls, keepalive_timeout=KEEPALIVE_SECONDS),
            headers={"User-Agent": self.USER_AGENT},
            # Telegram sets no cookies; a jar would filter cookies on every call.
            cookie_jar=aiohttp.DummyCookieJar(),
            # Proxies come from the environment once per origin (proxy_for): with trust_env, aiohttp
            # reads the environment and ~/.netrc in worker threads on every call, which doubles a
            # call's latency on loopback.
            trust_env=False,
        )

    async def shutdown(self) -> None:
        """Close the session and its connections; PTB may initialize again afterwards."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session, slots = self._session, self._slots
        if session is None or session.closed or slots is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        uploads = request_data is not None and request_data.contains_files
        timeout = self._timeouts.for_call(read_timeout, write_timeout, connect_timeout, uploads=uploads)
        try:
            await self._take_slot(slots, self._timeouts.pool if _default(pool_timeout) else pool_timeout)
            try:
                async with session.request(
                    method,
                    url,
                    data=_body(request_data, uploads),
                    timeout=timeout,
                    proxy=self.proxy_for(url),
                    # httpx does not follow redirects either; the Bot API never sends one.
                    allow_redirects=False,
                ) as response:
                    return response.status, await response.read()
            finally:
                slots.release()
        except TimeoutError as error:  # ServerTimeoutError and its subclasses included
            raise _failure(error, url) from error
        except aiohttp.ClientError as error:
            raise _failure(error, url) from error

    async def _take_slot(self, slots: asyncio.Semaphore, seconds: float | None) -> None:
        """One of the pool's connections, or ConnectionTimeoutError once `seconds` pass without one."""
        # The pool wait is timed here rather than by aiohttp, whose `connect` timeout would add
        # it to the connection's own time: PTB times the two apart (pool_timeout, connect_timeout).
        if not slots.locked():
            await slots.acquire()  # returns at once
            return
        try:
            async with asyncio.timeout(seconds):
                await slots.acquire()
        except TimeoutError as error:
            raise PoolTimeout(
                f"Pool timeout: all {self._size} connections to the Bot API are in use. "
                "The request was *not* sent to Telegram."
            ) from error

    def proxy_for(self, url: str) -> URL | None:
        """The proxy the environment names for this URL's origin (looked up once per session)."""
        scheme, _, rest = url.partition("://")
        origin = f"{scheme}://{rest.partition('/')[0]}"  # without parsing the URL on every call
        if origin not in self._proxies:
            self._proxies[origin] = env_proxy(URL(origin))
        return self._proxies[origin]


class _Timeouts:
    """PTB's four timeouts and the media write timeout, turned into aiohttp's per call."""

    __slots__ = ("connect", "media_write", "pool", "read", "write")

    def __init__(
        self,
        read: float | None,
        write: float | None,
        connect: float | None,
        pool: float | None,
        media_write: float | None,
    ) -> None:
        self.read, self.write, self.connect, self.pool, self.media_write = read, write, connect, pool, media_write

    def for_call(
        self,
        read: ODVInput[float],
        write: ODVInput[float],
        connect: ODVInput[float],
        *,
        uploads: bool,
    ) -> aiohttp.ClientTimeout:
        """A call's timeouts: DefaultValue means this transport's own, as in PTB's HTTPXRequest."""
        read = self.read if _default(read) else read
        connect = self.connect if _default(connect) else connect
        if not uploads:
            # An ordinary call's body (a few KB of form fields) goes into the socket buffer at once,
            # so writing cannot stall; aiohttp starts the read timeout once it is written.
            return _client_timeout(None, connect, read)
        # aiohttp has no write timeout: an upload is bounded as a whole instead, by the time PTB
        # would allow it to connect, write (media_write_timeout by default) and wait for the answer.
        write = self.media_write if _default(write) else write
        parts = (connect, write, read)
        total = None if None in parts else sum(parts)  # type: ignore[arg-type]
        return _client_timeout(total, connect, read)


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    # connect covers DNS, TCP, TLS and a proxy tunnel; sock_read the wait for each part of the answer.
    return aiohttp.ClientTimeout(total=total, connect=connect, sock_read=read)


def _default(value: object) -> bool:
    return isinstance(value, DefaultValue)


def _body(request_data: RequestData | None, uploads: bool) -> dict[str, str] | aiohttp.FormData | None:
    """Form fields for an ordinary call; multipart form data, fields and files, for an upload."""
    if request_data is None:
        return None
    if not uploads:
        return request_data.json_parameters or None
    # Raw UTF-8 file names (台账.pdf), as httpx and browsers send them; quoting would send %E5...
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        # Bytes in a BytesIO go out in chunks, each written as the socket takes it, rather than
        # in one piece that aiohttp warns may hold up the loop (over 1 MB).
        upload = io.BytesIO(content) if isinstance(content, bytes) else content
        form.add_field(name, upload, filename=filename, content_type=mime_type)
    return form


def tls_context() -> ssl.SSLContext:
    """Certificates checked against certifi's authorities, as httpx does, unless SSL_CERT_FILE/DIR name others."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()  # OpenSSL reads both variables itself
    return ssl.create_default_context(cafile=certifi.where())


def env_proxy(url: URL) -> URL | None:
    """HTTPS_PROXY or HTTP_PROXY by the URL's scheme, else ALL_PROXY, unless NO_PROXY exempts the host."""
    if url.host is None or proxy_bypass(url.host):
        return None
    proxies = getproxies()  # the environment's *_proxy variables, upper or lower case
    named = proxies.get(url.scheme) or proxies.get("all")
    if not named:
        return None
    proxy = URL(named)
    if proxy.scheme not in ("http", "https"):
        # aiohttp would speak HTTP to it; a SOCKS proxy would only answer with errors.
        raise ValueError(f"{proxy.scheme}:// proxies are not supported (HTTPS_PROXY, ALL_PROXY): name an http:// one")
    return proxy


# --- failures ----------------------------------------------------------------------------------


def _failure(error: BaseException, url: str) -> NetworkError:
    """PTB's error for an aiohttp failure, with the token scrubbed from both their texts."""
    scrub = _scrubber(url)
    for link in _chain(error):
        _scrub_in_place(link, scrub)
    if isinstance(error, PoolTimeout):
        return TimedOut(str(error))
    if isinstance(error, TimeoutError):
        return TimedOut()
    return NetworkError(scrub(f"aiohttp.{type(error).__name__}: {error}"))


def _scrubber(url: str) -> Redactor:
    redactor = Redactor()
    if found := _TOKEN_IN_URL.search(url):
        redactor.add_token(found.group(1))
    return redactor


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and the errors it was raised from or during."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _scrub_in_place(error: BaseException, scrub: Redactor) -> None:
    """Remove the token from every text an aiohttp error renders (args, strerror, the request's URL)."""
    error.args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in error.args)
    if isinstance(error, OSError) and isinstance(error.strerror, str):
        error.strerror = scrub(error.strerror)  # ClientOSError("Can not write request body for <url>")
    if isinstance(error, aiohttp.ClientResponseError):
        # Its text quotes the request's URL: keep the origin only.
        info = error.request_info
        error.request_info = aiohttp.RequestInfo(info.url.origin(), info.method, info.headers, info.real_url.origin())
        error.history = ()
        error.args = (error.request_info, ())
    if isinstance(error, aiohttp.InvalidURL):
        error._url = scrub(str(error.url))  # a malformed base_url: the text is the URL itself
