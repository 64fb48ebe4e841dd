"""httpcore's socket layer on plain asyncio streams, for the client's connection pool.

httpx speaks HTTP (httpcore and h11 frame every request and reply); this module only moves bytes. httpcore's own
asyncio path goes through anyio, which costs more CPU than the HTTP work itself on small API calls: a cancel
scope per read and write, and a dictionary of socket attributes built each time the pool checks an idle
connection. Measured with `bench.client_overhead` at 8 requests in flight: about a third of the client's CPU
per request. TLS is asyncio's (`StreamWriter.start_tls`, the standard `ssl` module). Proxies keep httpx's own
transports (httpx mounts them apart from this pool).
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore

#: Errors of the socket layer, as httpcore names them (httpx maps them to its own, and the retries judge those).
_READ_ERRORS: dict[type[Exception], type[Exception]] = {
    TimeoutError: httpcore.ReadTimeout,
    OSError: httpcore.ReadError,
}
_WRITE_ERRORS: dict[type[Exception], type[Exception]] = {
    TimeoutError: httpcore.WriteTimeout,
    OSError: httpcore.WriteError,
}
_CONNECT_ERRORS: dict[type[Exception], type[Exception]] = {
    TimeoutError: httpcore.ConnectTimeout,
    OSError: httpcore.ConnectError,
}


def _mapped(error: Exception, errors: dict[type[Exception], type[Exception]]) -> Exception:
    """The httpcore error for an asyncio or OS error (TimeoutError is an OSError: checked first)."""
    for kind, mapped in errors.items():
        if isinstance(error, kind):
            return mapped(str(error) or type(error).__name__)
    return error


def _is_readable(sock: socket.socket | None) -> bool:
    """Whether a socket has bytes (or its end) waiting: an idle pooled connection that is readable was closed."""
    if sock is None or sock.fileno() < 0:
        return True
    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio reader and writer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to `max_bytes` as soon as some arrive; b"" when the server closed the connection."""
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except (TimeoutError, OSError) as error:
            raise _mapped(error, _READ_ERRORS) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send all of `buffer`."""
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except (TimeoutError, OSError) as error:
            raise _mapped(error, _WRITE_ERRORS) from error

    async def aclose(self) -> None:
        """Close the connection without waiting for the peer."""
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncioStream:
        """The same connection, upgraded to TLS with `ssl_context` (certificate and host name checked by it)."""
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except (TimeoutError, OSError, ssl.SSLError) as error:
            self._writer.close()
            raise _mapped(error, _CONNECT_ERRORS) from error
        return self

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks of a connection: its socket, TLS object, addresses, whether it is readable."""
        sock = self._writer.get_extra_info("socket")
        if info == "is_readable":
            return _is_readable(sock)
        if info == "socket":
            return sock
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections with asyncio (TCP_NODELAY, as asyncio sets it by default)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, Any]] | None = None,
    ) -> AsyncioStream:
        """A connection to `host:port`, from `local_address` when given."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None
                )
        except (TimeoutError, OSError) as error:
            raise _mapped(error, _CONNECT_ERRORS) from error
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[tuple[int, int, Any]] | None = None,
    ) -> AsyncioStream:
        """A connection to a Unix socket (httpx's `uds=`)."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        except (TimeoutError, OSError) as error:
            raise _mapped(error, _CONNECT_ERRORS) from error
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        """Pause this task."""
        await asyncio.sleep(seconds)
