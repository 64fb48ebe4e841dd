"""The lean HTTP/1.1 sender against a scripted raw server: framing (length, chunks, end of stream), gzip,
keep-alive reuse, a server that closes, and failures that keep the transport's retry rules."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr

from labelrounds.client import AmbiguousWriteError, ConnectionSettings, RetryPolicy, SuperviselyClient
from labelrounds.client.errors import NotFoundError
from labelrounds.client.http1 import direct_route

TOKEN = "http1-test-token-77ab"

#: One scripted reply: the raw bytes to send for a request body (None: close the connection without a reply).
Script = Callable[[bytes], bytes | None]


def framed(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode()
        + body
    )


def chunked(body: bytes, *, gzipped: bool = False) -> bytes:
    payload = gzip.compress(body) if gzipped else body
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(payload[start : start + 7]), payload[start : start + 7])
        for start in range(0, len(payload), 7)
    )
    encoding = "content-encoding: gzip\r\n" if gzipped else ""
    head = f"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{encoding}\r\n".encode()
    return head + chunks + b"0\r\nx-trailer: 1\r\n\r\n"


@dataclass
class RawServer:
    """Answers each request with the next script; records the requests' heads and bodies and the connections."""

    scripts: list[Script]
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                answer = self.scripts.pop(0)(body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if (
                    b"connection: close" in answer.lower()
                    or b"content-length" not in answer.lower()
                    and b"chunked" not in answer
                ):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def client_of(server: RawServer, **kwargs: object) -> AsyncIterator[SuperviselyClient]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    settings = ConnectionSettings(server_address=f"http://127.0.0.1:{port}", api_token=SecretStr(TOKEN))
    policy = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0, jitter=False)
    try:
        async with SuperviselyClient(settings, retry_policy=policy, **kwargs) as api:  # type: ignore[arg-type]
            yield api
    finally:
        listener.close()


def ok(payload: object) -> Script:
    return lambda _body: framed(json.dumps(payload).encode())


async def test_length_chunked_and_gzip_replies_on_one_kept_connection() -> None:
    reply = {"entities": list(range(50))}
    server = RawServer([ok({"a": 1}), lambda _b: chunked(json.dumps(reply).encode(), gzipped=True), ok([])])
    async with client_of(server) as api:
        assert await api.call("x.one", {"k": 1}, idempotent=True) == {"a": 1}
        assert await api.call("x.two", {}, idempotent=True) == reply
        assert await api.call("x.three", {}, idempotent=True) == []
    assert server.connections == 1  # kept alive
    head, body = server.requests[0]
    assert head.startswith(b"POST /public/api/v3/x.one HTTP/1.1\r\n")
    assert f"x-api-key: {TOKEN}".encode() in head
    assert json.loads(body) == {"k": 1}


async def test_a_reply_until_the_end_of_the_stream_and_a_closed_connection_is_replaced() -> None:
    until_close = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + b'{"b": 2}'
    server = RawServer([lambda _b: until_close, ok({"c": 3}), ok({"d": 4})])
    async with client_of(server) as api:
        assert await api.call("x.a", {}, idempotent=True) == {"b": 2}
        assert await api.call("x.b", {}, idempotent=True) == {"c": 3}  # on a new connection
        await asyncio.sleep(0)
        assert await api.call("x.c", {}, idempotent=True) == {"d": 4}
    assert server.connections == 2


async def test_no_reply_retries_a_read_and_makes_a_write_ambiguous() -> None:
    server = RawServer([lambda _b: None, ok({"ok": True}), lambda _b: None])
    async with client_of(server) as api:
        assert await api.call("x.read", {}, idempotent=True) == {"ok": True}
        with pytest.raises(AmbiguousWriteError):
            await api.call("x.write", {}, idempotent=False)
        assert api.stats.retries["x.read"] == 1


async def test_an_error_reply_becomes_its_typed_error_without_the_token() -> None:
    error = {"error": "Not found", "details": {"message": f"no such thing (token {TOKEN})"}}
    server = RawServer([lambda _b: framed(json.dumps(error).encode(), status="404 Not Found")])
    async with client_of(server) as api:
        with pytest.raises(NotFoundError) as raised:
            await api.call("x.info", {"id": 1}, idempotent=True)
    assert TOKEN not in str(raised.value) and "no such thing" in str(raised.value)


async def test_a_refused_connection_is_retried_then_reported() -> None:
    listener = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    settings = ConnectionSettings(server_address=f"http://127.0.0.1:{port}", api_token=SecretStr(TOKEN))
    policy = RetryPolicy(max_attempts=2, base_delay=0, max_delay=0, jitter=False)
    async with SuperviselyClient(settings, retry_policy=policy) as api:
        with pytest.raises(Exception, match="ConnectError") as raised:
            await api.call("x.write", {}, idempotent=False)  # never sent: retried although not idempotent
        assert not isinstance(raised.value, AmbiguousWriteError)
        assert api.stats.requests["x.write"] == 2


def test_only_direct_routes_use_the_lean_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert direct_route("http://127.0.0.1:9/public/api/v3/")
    assert not direct_route("http://user:pw@host/public/api/v3/")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert not direct_route("https://sly.example.com/public/api/v3/")
    monkeypatch.setenv("NO_PROXY", "sly.example.com")
    assert direct_route("https://sly.example.com/public/api/v3/")
