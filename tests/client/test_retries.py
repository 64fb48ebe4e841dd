"""Retries: what is retried, how long the client waits, the bounds, and non-idempotent writes."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from labelrounds.client import (
    AmbiguousWriteError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from labelrounds.client.transience import is_transient
from labelrounds.client.transport import parse_retry_after

from .support import TOKEN, error_reply, fast_policy, reply, sequence

CONNECT_REFUSED = httpx.ConnectError("[Errno 111] Connection refused")
READ_DROPPED = httpx.RemoteProtocolError("Server disconnected without sending a response.")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_transient_status_is_retried_until_success(make_client, status: int) -> None:
    async with make_client(
        sequence(error_reply(status, "busy"), error_reply(status, "busy"), reply({"ok": 1}))
    ) as ctx:
        assert await ctx.client.call("jobs.info", {"id": 1}, idempotent=True) == {"ok": 1}
    assert ctx.recorder.methods == ["jobs.info"] * 3
    assert ctx.client.stats.retries["jobs.info"] == 2


async def test_connect_error_is_retried(make_client) -> None:
    async with make_client(sequence(CONNECT_REFUSED, reply({"version": "6.18.3"}))) as ctx:
        assert await ctx.client.instance_version() == "6.18.3"
    assert len(ctx.recorder.requests) == 2


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, InvalidRequestError), (401, UnauthorizedError), (403, ForbiddenError), (404, NotFoundError)],
)
async def test_client_errors_are_not_retried(make_client, status: int, error_class: type[Exception]) -> None:
    async with make_client(sequence(error_reply(status, "nope"))) as ctx:
        with pytest.raises(error_class):
            await ctx.client.call("jobs.stop", {"id": 1}, idempotent=True)
    assert len(ctx.recorder.requests) == 1
    assert ctx.time.sleeps == []


async def test_attempts_are_bounded(make_client) -> None:
    async with make_client(
        sequence(error_reply(500, "down")), retry_policy=fast_policy(max_attempts=5)
    ) as ctx:
        with pytest.raises(ServerError) as caught:
            await ctx.client.call("jobs.list", {}, idempotent=True)
    assert len(ctx.recorder.requests) == 5
    assert caught.value.status_code == 500
    assert ctx.client.stats.failures["jobs.list"] == 1


async def test_backoff_doubles_up_to_max_delay_without_jitter(make_client) -> None:
    policy = fast_policy(max_attempts=7, base_delay=1.0, max_delay=8.0, max_total=1000.0)
    async with make_client(sequence(error_reply(502, "bad gateway")), retry_policy=policy) as ctx:
        with pytest.raises(ServerError):
            await ctx.client.call("jobs.list", {}, idempotent=True)
    assert ctx.time.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


async def test_full_jitter_stays_within_the_exponential_ceiling(make_client) -> None:
    policy = RetryPolicy(max_attempts=30, base_delay=0.5, max_delay=4.0, max_total=10_000.0, jitter=True)
    async with make_client(sequence(error_reply(500, "down")), retry_policy=policy) as ctx:
        with pytest.raises(ServerError):
            await ctx.client.call("jobs.list", {}, idempotent=True)
    ceilings = [min(4.0, 0.5 * 2**retry) for retry in range(29)]
    assert len(ctx.time.sleeps) == 29
    assert all(0 <= slept <= ceiling for slept, ceiling in zip(ctx.time.sleeps, ceilings, strict=True))
    assert len(set(ctx.time.sleeps)) > 1  # jittered, not a fixed schedule


async def test_total_time_is_bounded(make_client) -> None:
    policy = fast_policy(max_attempts=100, base_delay=4.0, max_delay=4.0, max_total=10.0)
    async with make_client(sequence(error_reply(500, "down")), retry_policy=policy) as ctx:
        with pytest.raises(ServerError):
            await ctx.client.call("jobs.list", {}, idempotent=True)
    # Sleeps of 4 s fit twice in a 10 s budget; a third would end at 12 s.
    assert ctx.time.sleeps == [4.0, 4.0]
    assert len(ctx.recorder.requests) == 3


async def test_retry_after_seconds_is_honoured(make_client) -> None:
    handler = sequence(error_reply(429, "slow down", **{"Retry-After": "7"}), reply({"id": 3}))
    async with make_client(handler) as ctx:
        await ctx.client.call("jobs.info", {"id": 3}, idempotent=True)
    assert ctx.time.sleeps == [7.0]


async def test_retry_after_http_date_is_honoured(make_client) -> None:
    moment = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    async with make_client(
        sequence(error_reply(429, "slow down", **{"Retry-After": moment}), reply({}))
    ) as ctx:
        await ctx.client.call("jobs.info", {"id": 3}, idempotent=True)
    [slept] = ctx.time.sleeps
    assert 20.0 < slept <= 30.0


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("12", now=now) == 12.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:45 GMT", now=now) == 45.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


async def test_rate_limit_beyond_the_budget_gives_up_at_once(make_client) -> None:
    policy = fast_policy(max_total=60.0)
    async with make_client(
        sequence(error_reply(429, "slow down", **{"Retry-After": "600"})), retry_policy=policy
    ) as ctx:
        with pytest.raises(RateLimitedError) as caught:
            await ctx.client.call("jobs.list", {}, idempotent=True)
    assert caught.value.retry_after == 600.0
    assert len(ctx.recorder.requests) == 1
    assert ctx.time.sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        error_reply(500, "boom"),
        error_reply(502, "bad gateway"),
        error_reply(504, "gateway timeout"),
        error_reply(503, "unavailable"),
        READ_DROPPED,
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset"),
    ],
)
async def test_non_idempotent_write_with_unknown_outcome_is_ambiguous(make_client, failure) -> None:
    async with make_client(sequence(failure, reply([{"id": 5}]))) as ctx:
        with pytest.raises(AmbiguousWriteError) as caught:
            await ctx.client.add_jobs("j", 1, [2], classes=[], tags=[], entity_ids=[])
    assert len(ctx.recorder.requests) == 1
    assert caught.value.method == "jobs.add"
    assert "outcome unknown" in str(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        CONNECT_REFUSED,
        httpx.ConnectTimeout("connect timed out"),
        error_reply(429, "slow down", **{"Retry-After": "1"}),
        error_reply(503, "maintenance", **{"Retry-After": "2"}),
    ],
)
async def test_non_idempotent_write_is_retried_when_it_certainly_did_not_land(make_client, failure) -> None:
    async with make_client(sequence(failure, reply([{"id": 5}]))) as ctx:
        assert await ctx.client.add_jobs("j", 1, [2], classes=[], tags=[], entity_ids=[]) == [5]
    assert len(ctx.recorder.requests) == 2


async def test_non_idempotent_client_error_is_not_ambiguous(make_client) -> None:
    async with make_client(sequence(error_reply(400, "Class 'plum' not found"))) as ctx:
        with pytest.raises(InvalidRequestError):
            await ctx.client.add_jobs("j", 1, [2], classes=["plum"], tags=[], entity_ids=[])
    assert len(ctx.recorder.requests) == 1


async def test_connect_errors_exhausted_raise_transport_error_not_ambiguous(make_client) -> None:
    async with make_client(sequence(CONNECT_REFUSED), retry_policy=fast_policy(max_attempts=3)) as ctx:
        with pytest.raises(TransportError) as caught:
            await ctx.client.call("jobs.add", {"name": "j"}, idempotent=False)
    assert len(ctx.recorder.requests) == 3
    assert caught.value.status_code is None
    assert "ConnectError" in str(caught.value)


async def test_retries_are_logged_at_warning_without_the_token(make_client, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="labelrounds.client")
    async with make_client(sequence(error_reply(500, f"echo {TOKEN}"), reply({}))) as ctx:
        await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    [record] = [r for r in caplog.records if r.name == "labelrounds.client"]
    assert record.levelno == logging.WARNING
    assert "jobs.info" in record.getMessage()
    assert TOKEN not in record.getMessage()


async def test_concurrency_is_limited(make_client) -> None:
    in_flight = 0
    peak = 0

    async def slow_handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return reply({"id": 1})

    async with make_client(slow_handler, max_concurrency=3) as ctx:
        await asyncio.gather(*(ctx.client.call("jobs.info", {"id": i}, idempotent=True) for i in range(20)))
    assert peak == 3
    assert ctx.client.stats.requests["jobs.info"] == 20


async def test_an_undecodable_reply_to_a_write_is_ambiguous(make_client) -> None:
    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip"))

    async with make_client(garbled) as ctx:
        with pytest.raises(AmbiguousWriteError) as caught:
            await ctx.client.add_user("labeler_1", SecretStr("pw-1"))
    assert isinstance(caught.value.cause, TransportError) and "DecodingError" in str(caught.value)
    assert len(ctx.recorder.requests) == 1


async def test_final_failures_are_not_retried_nor_ambiguous(make_client) -> None:
    async with make_client(
        sequence(error_reply(501, "not implemented"), httpx.UnsupportedProtocol("no"))
    ) as ctx:
        with pytest.raises(ServerError):
            await ctx.client.call("jobs.add", {}, idempotent=False)
        with pytest.raises(TransportError, match="UnsupportedProtocol"):
            await ctx.client.call("jobs.add", {}, idempotent=False)
    assert len(ctx.recorder.requests) == 2


async def test_a_redirect_says_where_to(make_client) -> None:
    moved = httpx.Response(301, headers={"location": "https://sly.test/public/api/v3/jobs.info"})
    async with make_client(sequence(moved)) as ctx:
        with pytest.raises(InvalidRequestError, match="redirects to https://sly.test/"):
            await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    assert len(ctx.recorder.requests) == 1


#: What is transient, written out from the HTTP semantics (not from the code under test).
TRANSIENT_BY_STATUS = {
    400: False, 401: False, 403: False, 404: False, 408: True, 409: False, 422: False,
    429: True, 500: True, 501: False, 502: True, 503: True, 504: True,
}  # fmt: skip


@pytest.mark.parametrize(("status", "transient"), sorted(TRANSIENT_BY_STATUS.items()))
async def test_the_client_retries_exactly_what_the_shared_decision_calls_transient(
    make_client, status: int, transient: bool
) -> None:
    async with make_client(sequence(error_reply(status, "nope")), retry_policy=fast_policy(max_attempts=3)) as ctx:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the class depends on the status
            await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    assert len(ctx.recorder.requests) == (3 if transient else 1)
    assert is_transient(caught.value) is transient  # the task layer's view of the same error agrees


@pytest.mark.parametrize(
    ("failure", "transient"),
    [(CONNECT_REFUSED, True), (READ_DROPPED, True), (httpx.ReadTimeout("slow"), True), (httpx.UnsupportedProtocol("x"), False)],
)
async def test_failures_without_a_response_are_judged_by_their_cause(make_client, failure, transient: bool) -> None:
    async with make_client(sequence(failure), retry_policy=fast_policy(max_attempts=2)) as ctx:
        with pytest.raises(TransportError) as caught:
            await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    assert len(ctx.recorder.requests) == (2 if transient else 1)
    assert is_transient(caught.value) is transient
    ambiguous = AmbiguousWriteError("jobs.add", caught.value)
    assert is_transient(ambiguous) is transient and not is_transient(ValueError("not an API failure"))


async def test_a_dead_server_is_given_up_on_after_the_default_policys_backoffs(make_client) -> None:
    async with make_client(sequence(CONNECT_REFUSED), retry_policy=RetryPolicy()) as ctx:
        with pytest.raises(TransportError):
            await ctx.client.call("users.me", {}, idempotent=True)
    # 6 attempts, 5 jittered backoffs each below its ceiling 0.5, 1, 2, 4, 8 s: at most 15.5 s asleep in all.
    assert len(ctx.recorder.requests) == 6
    assert all(slept <= ceiling for slept, ceiling in zip(ctx.time.sleeps, [0.5, 1, 2, 4, 8], strict=True))
