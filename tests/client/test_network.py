"""The client's socket layer (`client.network`, httpcore over asyncio streams) against real local sockets.

Each server here is a few lines of asyncio that records what arrived: requests reach it and replies come back
(plain and TLS, through a proxy the environment names), a certificate the client does not trust is refused,
connections are kept alive and shared up to the concurrency limit, one the server closed while idle is not
reused, and each way a connection fails becomes the httpx error the retries judge (refused, closed before the
reply, silent, not reading the body).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from labelrounds.client import (
    AmbiguousWriteError,
    ConnectionSettings,
    RetryPolicy,
    SuperviselyClient,
    TransportError,
)
from labelrounds.client.network import LinearPool
from labelrounds.client.transience import is_transient
from labelrounds.client.transport import pooled_transport

TOKEN = "network-test-token-7d2e"
REPLY = b'{"version": "6.74.51"}'


@dataclass
class Served:
    """What a local server saw: connections opened and request heads received."""

    connections: int = 0
    heads: list[bytes] = field(default_factory=list)


Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Served], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader, served: Served) -> bool:
    """Read one request (head and body); False when the client closed the connection instead."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    served.heads.append(head)
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        ),
        0,
    )
    await reader.readexactly(length)
    return True


async def send_reply(writer: asyncio.StreamWriter) -> None:
    """Write REPLY as a keep-alive HTTP/1.1 200 answer."""
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(REPLY)}\r\n\r\n".encode()
        + REPLY
    )
    await writer.drain()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, served: Served) -> None:
    """Answer every request on the connection with REPLY (keep-alive)."""
    while await read_request(reader, served):
        await send_reply(writer)


async def close_after_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, served: Served
) -> None:
    """Read the request, then close the connection without replying."""
    await read_request(reader, served)
    writer.close()


async def stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, served: Served) -> None:
    """Read the request and never reply."""
    await read_request(reader, served)
    await asyncio.sleep(30)


@asynccontextmanager
async def local_server(
    behaviour: Behaviour, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, Served]]:
    """A server on a free loopback port; yields its address and what it saw."""
    served = Served()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.connections += 1
        try:
            await behaviour(reader, writer, served)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", served
        server.close()


@dataclass(frozen=True)
class Certificates:
    """A test CA, and a server context whose certificate (for 127.0.0.1) that CA signed."""

    ca_pem: bytes
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Made once per module with `cryptography` (EC keys: fast)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labelrounds test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "server.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "server.pem", folder / "server.key")
    return Certificates(ca.public_bytes(serialization.Encoding.PEM), server)


def client(
    address: str, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 5.0
) -> SuperviselyClient:
    """A client without retries (each failure shows as it happened)."""
    return SuperviselyClient(
        ConnectionSettings(server_address=address, api_token=SecretStr(TOKEN)),
        retry_policy=RetryPolicy.no_retries(),
        timeout=timeout,
        transport=transport,
    )


async def test_requests_reach_the_server_and_replies_come_back_on_one_kept_alive_connection() -> None:
    async with local_server(answer) as (address, served), client(address) as api:
        replies = [await api.call("instance.version", {"n": index}, idempotent=True) for index in range(3)]
    assert replies == [{"version": "6.74.51"}] * 3
    assert served.connections == 1  # kept alive by the pool across the three requests
    assert all(head.startswith(b"POST /public/api/v3/instance.version HTTP/1.1\r\n") for head in served.heads)
    assert all(f"x-api-key: {TOKEN}".encode() in head for head in served.heads)


async def test_tls_with_a_trusted_certificate_carries_the_request(certificates: Certificates) -> None:
    trusting = ssl.create_default_context(cadata=certificates.ca_pem.decode())
    async with (
        local_server(answer, tls=certificates.server) as (address, served),
        client(address, pooled_transport(2, trusting)) as api,
    ):
        assert await api.call("instance.version", idempotent=True) == {"version": "6.74.51"}
    assert len(served.heads) == 1


async def test_a_certificate_the_client_does_not_trust_is_refused_before_any_request(
    certificates: Certificates,
) -> None:
    # The same server as above; the default client trusts only the public CAs (httpx's context).
    async with local_server(answer, tls=certificates.server) as (address, served), client(address) as api:
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            await api.call("instance.version", idempotent=True)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert served.heads == []


async def test_a_refused_connection_is_a_transient_connect_error_and_no_ambiguous_write() -> None:
    async with local_server(answer) as (address, _):
        pass  # closed: its port refuses connections now
    async with client(address) as api:
        with pytest.raises(TransportError) as caught:
            await api.call("jobs.add", {"name": "x"}, idempotent=False)
    assert not isinstance(caught.value, AmbiguousWriteError)  # nothing was sent
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert is_transient(caught.value)


async def test_a_connection_closed_before_the_reply_leaves_a_write_ambiguous() -> None:
    async with local_server(close_after_request) as (address, served), client(address) as api:
        with pytest.raises(AmbiguousWriteError) as caught:
            await api.call("jobs.add", {"name": "x"}, idempotent=False)
    assert len(served.heads) == 1  # the write arrived: its outcome is unknown to the client
    assert isinstance(caught.value.cause.__cause__, httpx.RemoteProtocolError)
    assert is_transient(caught.value)


async def test_a_silent_server_is_a_transient_read_timeout() -> None:
    async with local_server(stay_silent) as (address, served), client(address, timeout=0.3) as api:
        with pytest.raises(TransportError) as caught:
            await api.call("instance.version", idempotent=True)
    assert len(served.heads) == 1
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert is_transient(caught.value)


async def close_when_idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, served: Served) -> None:
    """Answer one request, then close the kept-alive connection (as a server's keep-alive timeout does)."""
    if await read_request(reader, served):
        await send_reply(writer)


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with local_server(close_when_idle) as (address, served), client(address) as api:
        assert await api.call("instance.version", idempotent=True) == {"version": "6.74.51"}
        await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle in the pool
        # No retries here: sending on the closed connection would fail (RemoteProtocolError) instead.
        assert await api.call("jobs.add", {"name": "x"}, idempotent=False) == {"version": "6.74.51"}
    assert served.connections == 2


async def test_concurrent_calls_share_at_most_max_concurrency_kept_alive_connections() -> None:
    settings = ConnectionSettings(server_address="127.0.0.1", api_token=SecretStr(TOKEN))
    async with local_server(answer) as (address, served):
        settings = settings.model_copy(update={"server_address": address})
        async with SuperviselyClient(settings, max_concurrency=3) as api:
            for _ in range(3):  # waves: the second and third reuse the first wave's connections
                replies = await asyncio.gather(
                    *(api.call("instance.version", {"n": index}, idempotent=True) for index in range(10))
                )
                assert replies == [{"version": "6.74.51"}] * 10
    assert len(served.heads) == 30
    assert served.connections == 3


async def test_a_proxy_named_by_the_environment_carries_the_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    async with local_server(answer) as (proxy, served):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        # The host does not resolve: only the proxy can answer.
        async with client("http://api.example.invalid:8089") as api:
            assert await api.call("instance.version", idempotent=True) == {"version": "6.74.51"}
    assert served.heads[0].startswith(
        b"POST http://api.example.invalid:8089/public/api/v3/instance.version HTTP/1.1\r\n"
    )
    assert f"x-api-key: {TOKEN}".encode() in served.heads[0]


async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, served: Served) -> None:
    """Accept the connection and read nothing: the client's bytes pile up until the socket buffers are full."""
    await asyncio.sleep(30)


async def test_a_body_the_server_does_not_take_is_a_write_timeout() -> None:
    body = {"blob": "x" * 32_000_000}  # more than loopback's socket buffers hold
    async with local_server(never_read) as (address, served), client(address, timeout=0.3) as api:
        with pytest.raises(TransportError) as caught:
            await api.call("images.upload", body, idempotent=True)
    assert served.heads == []
    assert isinstance(caught.value.__cause__, httpx.WriteTimeout)
    assert is_transient(caught.value)


async def test_each_request_takes_one_pool_pass_to_get_a_connection_and_one_to_give_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # httpcore's own pool gave one idle connection to every request queued at that moment; all but one then
    # failed over (ConnectionNotAvailable) and queued again: more passes than two per request.
    passes = 0
    assign = LinearPool._assign_requests_to_connections

    def counted(pool: LinearPool) -> list[httpcore.AsyncConnectionInterface]:
        nonlocal passes
        passes += 1
        return assign(pool)

    monkeypatch.setattr(LinearPool, "_assign_requests_to_connections", counted)
    async with local_server(answer) as (address, served), client(address) as api:
        await asyncio.gather(
            *(api.call("instance.version", {"n": index}, idempotent=True) for index in range(8))
        )
        passes = 0
        await asyncio.gather(
            *(api.call("instance.version", {"n": index}, idempotent=True) for index in range(40))
        )
    assert served.connections == 8
    assert passes == 2 * 40
