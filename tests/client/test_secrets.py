"""The API token never appears in a repr, an error message, a log line, or an httpx error we wrap."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyError, TransportError

from .support import SERVER, TOKEN, error_reply, fast_policy, reply, sequence, settings


def test_reprs_hide_the_token(make_client) -> None:
    ctx = make_client(sequence(reply({})))
    for text in (repr(settings()), str(settings()), repr(ctx.client), str(settings().model_dump())):
        assert TOKEN not in text
    assert repr(ctx.client) == f"SuperviselyClient(server_address='{SERVER}', max_concurrency=8, closed)"


def test_invalid_settings_do_not_echo_the_token() -> None:
    with pytest.raises(ValueError) as caught:
        ConnectionSettings(server_address="", api_token=SecretStr(TOKEN))
    assert TOKEN not in str(caught.value)


async def test_token_goes_in_the_header_only(make_client) -> None:
    async with make_client(sequence(reply({"version": "1"})), headers={"x-labelrounds-actor": "crew"}) as ctx:
        await ctx.client.instance_version()
    [request] = ctx.recorder.requests
    assert request.headers["x-api-key"] == TOKEN
    assert request.headers["x-labelrounds-actor"] == "crew"
    assert request.url == f"{SERVER}/public/api/v3/instance.version"
    assert TOKEN not in str(request.url) and TOKEN.encode() not in request.content


def test_the_token_cannot_be_passed_as_a_header(make_client) -> None:
    with pytest.raises(ValueError, match="ConnectionSettings"):
        make_client(sequence(reply({})), headers={"X-API-KEY": TOKEN})


async def test_server_echoing_the_token_is_redacted_everywhere(make_client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    echo = error_reply(500, f"bad key {TOKEN}", error=f"token {TOKEN} rejected")
    async with make_client(sequence(echo), retry_policy=fast_policy(max_attempts=2)) as ctx:
        with pytest.raises(SuperviselyError) as caught:
            await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    error = caught.value
    assert TOKEN not in str(error) and TOKEN not in repr(error) and TOKEN not in str(error.details)
    assert "***" in str(error)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


async def test_wrapped_httpx_errors_carry_no_token_or_headers(make_client, caplog) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while sending {dict(request.headers)}", request=request)

    async with make_client(handler, retry_policy=fast_policy(max_attempts=2)) as ctx:
        with pytest.raises(TransportError) as caught:
            await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    error = caught.value
    assert isinstance(error.__cause__, httpx.ConnectError)
    for text in (
        str(error),
        repr(error),
        str(error.error),
        *(record.getMessage() for record in caplog.records),
    ):
        assert TOKEN not in text
