"""A lean HTTP/1.1 sender for the API's one exchange (a POST with a JSON body): keep-alive asyncio streams.

httpx's client, auth flow and httpcore's pool cost several times the CPU of the exchange itself per request
(`python -m bench.client_overhead`: `client_cpu_ms_per_request`); a round sends hundreds of requests, so that was
most of the client's CPU. This pool writes one request head and body in one write and reads one reply, nothing else.
Failures raise httpx's exception types (connect, write, read, timeout, protocol) so the transport's retry rules
(`transience`) hold unchanged. The transport uses it when httpx would talk to the server directly (no custom
httpx transport, no proxy from the environment); otherwise it keeps httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

#: Head lines longer than this (in bytes) are refused; also the stream buffer size (large pages read in few steps).
_STREAM_LIMIT = 1 << 20
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NO_BODY_STATUSES = frozenset({204, 304})
_INFORMATIONAL_MAX = 199


@dataclass(frozen=True)
class RawReply:
    """One reply: status, reason, headers (names lower-cased, in order) and the body (content-decoded)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    content: bytes

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300  # noqa: PLR2004 - the 2xx range

    def to_httpx(self, url: str) -> httpx.Response:
        """The reply as an httpx response (for the failure paths, which read statuses, headers and text)."""
        return httpx.Response(
            self.status,
            headers=self.headers,
            content=self.content,
            request=httpx.Request("POST", url),
            extensions={"reason_phrase": self.reason.encode("latin-1")},
        )


def direct_route(base_url: str) -> bool:
    """Whether requests to `base_url` go straight to its host: http(s), no user info, no proxy from the environment."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return False
    proxies = urllib.request.getproxies_environment()
    if not any(key in proxies for key in (parts.scheme, "all")):
        return True
    return bool(urllib.request.proxy_bypass_environment(parts.hostname, proxies))


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def is_usable(self) -> bool:
        """Whether the connection can carry another request (the server has not closed it meanwhile)."""
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        """Close without waiting."""
        self.writer.close()


class Http1Pool:
    """Keep-alive HTTP/1.1 connections to one server, for POSTs under one path prefix.

    How many requests are in flight is the caller's limit (the transport's semaphore): an idle connection is
    reused, otherwise a new one is opened, and it is kept after a complete reply the server lets live.
    """

    def __init__(
        self, base_url: str, *, headers: Mapping[str, str], timeout: float, ssl_context: ssl.SSLContext
    ) -> None:
        """Prepare the pool; no connection is opened until the first request.

        Args:
            base_url: `scheme://host[:port]/prefix/`, which every request path is appended to.
            headers: sent with every request (the token among them: kept in the prepared head only).
            timeout: seconds for connecting, for writing a request and for reading its reply, each.
            ssl_context: TLS settings for https.
        """
        if not direct_route(base_url):
            raise ValueError("Http1Pool needs a plain http(s) URL without user info or proxy")
        parts = urllib.parse.urlsplit(base_url)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self._prefix = parts.path if parts.path.endswith("/") else parts.path + "/"
        self._base_url = base_url
        self._timeout = timeout
        self._ssl = ssl_context if parts.scheme == "https" else None
        fixed = {
            "Host": parts.netloc,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            "User-Agent": f"python-httpx/{httpx.__version__}",
            "Content-Type": "application/json",
        } | dict(headers)
        self._head_lines = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode("latin-1")
        self._idle: list[_Connection] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._scheme}://{self._host}:{self._port}, idle={len(self._idle)})"

    def url_of(self, method: str) -> str:
        """The full URL of an API method (for error messages and failure responses)."""
        return self._base_url + method

    async def post(self, method: str, content: bytes) -> RawReply:
        """POST `content` (JSON) to `<prefix><method>` and return the whole reply.

        Raises:
            httpx.ConnectError, httpx.ConnectTimeout: nothing was sent.
            httpx.WriteError, httpx.WriteTimeout, httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError:
                the request may have reached the server.
        """
        connection = await self._acquire()
        keep = False
        try:
            head = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (
                (self._prefix + method).encode("ascii"),
                self._head_lines,
                len(content),
            )
            await self._send(connection, head + content)
            reply, keep = await self._receive(connection.reader)
        finally:
            if keep and not self._closed:  # a reply arriving after `aclose` does not reopen the pool
                self._idle.append(connection)
            else:
                connection.close()
        return reply

    async def aclose(self) -> None:
        """Close every idle connection, and those of requests still in flight once they end (idempotent)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _acquire(self) -> _Connection:
        """An idle connection the server kept open, else a new one."""
        while self._idle:
            connection = self._idle.pop()
            if connection.is_usable():
                return connection
            connection.close()
        try:
            async with asyncio.timeout(self._timeout):
                reader, writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                    limit=_STREAM_LIMIT,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {self._host}:{self._port} timed out") from None
        except OSError as error:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"{type(error).__name__}: {error}") from error
        return _Connection(reader, writer)

    async def _send(self, connection: _Connection, data: bytes) -> None:
        try:
            connection.writer.write(data)
            async with asyncio.timeout(self._timeout):
                await connection.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("writing the request timed out") from None
        except OSError as error:
            raise httpx.WriteError(f"{type(error).__name__}: {error}") from error

    async def _receive(self, reader: asyncio.StreamReader) -> tuple[RawReply, bool]:
        """Read one reply; also whether the connection may carry another request."""
        try:
            async with asyncio.timeout(self._timeout):
                return await _read_reply(reader)
        except TimeoutError:
            raise httpx.ReadTimeout("reading the reply timed out") from None
        except asyncio.IncompleteReadError as error:
            if not error.partial:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from None
            raise httpx.RemoteProtocolError(
                "the server closed the connection in the middle of a reply"
            ) from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("a reply head or chunk line is too long") from None
        except OSError as error:
            raise httpx.ReadError(f"{type(error).__name__}: {error}") from error


async def _read_reply(reader: asyncio.StreamReader) -> tuple[RawReply, bool]:
    """Parse a reply's head (skipping 1xx), then its body by chunks, length or end of stream."""
    while True:
        version, status, reason, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        if status > _INFORMATIONAL_MAX:
            break
    fields = dict(headers)
    connection = fields.get("connection", "").lower()
    keep = (version == "HTTP/1.1" and "close" not in connection) or "keep-alive" in connection
    if status in _NO_BODY_STATUSES:
        body = b""
    elif "chunked" in fields.get("transfer-encoding", "").lower():
        body = await _read_chunks(reader)
    elif (length := fields.get("content-length")) is not None:
        if not length.isdigit():
            raise httpx.RemoteProtocolError(f"bad Content-Length {length!r}")
        body = await reader.readexactly(int(length))
    else:
        body, keep = await reader.read(), False  # delimited by the end of the connection
    encoding = fields.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate") and body:
        body = _decompress(body, encoding)
        headers = [
            (name, value) for name, value in headers if name not in ("content-encoding", "content-length")
        ]
    return RawReply(status, reason, headers, body), keep


def _parse_head(head: bytes) -> tuple[str, int, str, list[tuple[str, str]]]:
    """(version, status, reason, headers with lower-cased names) of a reply head."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise httpx.RemoteProtocolError("the reply does not start with an HTTP/1.x status line")
    headers = []
    for line in lines[1:]:
        name, separator, value = line.partition(":")
        if not separator:
            raise httpx.RemoteProtocolError("a reply header line has no ':'")
        headers.append((name.strip().lower(), value.strip()))
    return version, int(code), reason, headers


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, joined; trailers are read and dropped."""
    chunks = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx.RemoteProtocolError("a bad chunk size line") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise httpx.RemoteProtocolError("a chunk does not end with CRLF")


def _decompress(body: bytes, encoding: str) -> bytes:
    """A gzip or deflate (zlib or raw) body, decoded; a corrupt one is a transport failure, as in httpx."""
    try:
        if encoding == "gzip":
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    except zlib.error as error:
        raise httpx.DecodingError(f"the reply's {encoding} body is corrupt: {error}") from None
