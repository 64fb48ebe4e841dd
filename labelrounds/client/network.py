"""httpcore's socket layer on plain asyncio streams, and its connection pool with a linear scan.

httpx speaks HTTP (httpcore and h11 frame every request and reply); this module only moves bytes and picks
connections. httpcore's own asyncio path goes through anyio, which costs more CPU than the HTTP work itself on
small API calls: a cancel scope per read and write, and a dictionary of socket attributes built each time the
pool checks an idle connection. Measured with `bench.client_overhead` at 8 requests in flight: about a third of
the client's CPU per request. TLS is asyncio's (`StreamWriter.start_tls`, the standard `ssl` module). Proxies
keep httpx's own transports (`transport.environment_proxies`, mounted apart from this pool).

httpcore's pool re-checks every connection each time a request arrives or ends, and its surplus-idle test
builds a list of all connections for each idle one: with 8 connections, ~100 state checks per request, a tenth
of a round's client CPU (sampled at 100,000 images). `LinearPool` takes the same decisions in one pass.
"""

from __future__ import annotations

import asyncio
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
            if self._writer.is_closing():
                raise ConnectionResetError("the connection was closed")
            self._writer.write(buffer)
            # When the socket took all of it (the usual case for a request), there is nothing to wait for.
            if self._writer.transport.get_write_buffer_size():
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
        except (TimeoutError, OSError) as error:
            raise _mapped(error, _WRITE_ERRORS) from error

    def _reader_has_data(self) -> bool:
        """Whether bytes arrived that no read took yet (asyncio keeps them in the reader's buffer)."""
        return bool(self._reader._buffer)  # noqa: SLF001 - the stream reader exposes no public length

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
        """What httpcore asks of a connection: its socket, TLS object, addresses, whether it is readable.

        Readable (asked of idle connections only: one that is was closed by the server, or sent bytes nobody
        asked for) is read from the stream's state, which the event loop keeps current: asyncio reads each
        socket as soon as it is ready, so an end of stream or stray bytes show there, not in a `select` call.
        """
        if info == "is_readable":
            return self._reader.at_eof() or self._reader_has_data() or self._writer.is_closing()
        if info == "socket":
            return self._writer.get_extra_info("socket")
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


class LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool (HTTP/1.1), its connections checked once per change instead of once each.

    The decisions of httpcore 1.0's `_assign_requests_to_connections`: drop closed connections, close expired
    ones and idle ones beyond the keep-alive limit, then give each queued request the first available
    connection for its origin, else a new connection while under the limit, else one made by closing an idle
    connection. One difference: a connection already given to a request is not given to another. httpcore's
    pool gives the same idle connection to every request queued at that moment (it stays idle until the first
    one starts); all but one then fail with `ConnectionNotAvailable` and queue again, which took three pool
    passes per request with 8 in flight instead of two.
    """

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        connections = self._connections
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.has_expired() or (
                # httpcore counts all connections here (its list holds one entry per connection)
                connection.is_idle() and len(connections) > self._max_keepalive_connections
            ):
                connections.remove(connection)
                closing.append(connection)
        # HTTP/1.1: a connection serves one request at a time, from its assignment to the reply's end.
        taken = {request.connection for request in self._requests if request.connection is not None}
        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            free = [item for item in connections if item not in taken]
            connection = next(
                (item for item in free if item.can_handle_request(origin) and item.is_available()), None
            )
            if connection is None:
                if len(connections) >= self._max_connections:
                    idle = next((item for item in free if item.is_idle()), None)
                    if idle is None:
                        continue  # stays queued until a connection is released
                    connections.remove(idle)
                    closing.append(idle)
                connection = self.create_connection(origin)
                connections.append(connection)
            pool_request.assign_to_connection(connection)
            taken.add(connection)
        return closing
