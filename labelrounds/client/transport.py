"""The HTTP layer: one pooled httpx.AsyncClient, a concurrency limit, and retries of transient failures."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
import orjson
from pydantic import SecretStr

from labelrounds.client.config import ConnectionSettings, RetryPolicy
from labelrounds.client.errors import (
    AmbiguousWriteError,
    ResponseFormatError,
    SuperviselyError,
    TransportError,
    error_for_status,
    parse_error_body,
)
from labelrounds.client.network import AsyncioBackend
from labelrounds.client.stats import RequestStats
from labelrounds.client.transience import (
    NOT_SENT_FINAL,
    NOT_SENT_TRANSIENT,
    is_transient_request_error,
    is_transient_status,
)

logger = logging.getLogger("labelrounds.client")

API_PATH = "/public/api/v3/"
API_KEY_HEADER = "x-api-key"
REDACTED = "***"
_METHOD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_SERVICE_UNAVAILABLE = 503
_JSON_BODY = {"content-type": "application/json"}

Sleep = Callable[[float], Awaitable[None]]


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, built once: building it costs ~50 ms, and crews open many clients."""
    return httpx.create_ssl_context()


def pooled_transport(
    max_connections: int, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncHTTPTransport:
    """httpx's transport, its connection pool (httpcore) on asyncio streams (`network`) instead of anyio's.

    Everything else is httpx's default: HTTP/1.1, keep-alive, TLS verified with `ssl_context` (default
    `shared_ssl_context`, httpx's own).
    """
    context = ssl_context or shared_ssl_context()
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits)
    # httpx builds its pool without a way to name the backend; the pool's own constructor takes one.
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return transport


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait according to a `Retry-After` header (delta-seconds or an HTTP date), or None.

    Args:
        value: the header value.
        now: the current time, to turn an HTTP date into a delay.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


class _ApiKeyAuth(httpx.Auth):
    """Adds the `x-api-key` header to each request; keeps the token out of the client's default headers."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[API_KEY_HEADER] = self._token.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({REDACTED})"


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: the error to raise, and what it allows."""

    error: SuperviselyError
    retryable: bool
    may_have_applied: bool
    retry_after: float | None = None


class Transport:
    """Sends `POST /public/api/v3/<method>` requests with auth, concurrency limit, retries and counters."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        retry_policy: RetryPolicy,
        max_concurrency: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._settings = settings
        self._policy = retry_policy
        self._max_concurrency = max_concurrency
        self._timeout = timeout
        self._headers = dict(headers or {})
        if any(name.lower() == API_KEY_HEADER for name in self._headers):
            raise ValueError(f"pass the token through ConnectionSettings, not as an {API_KEY_HEADER} header")
        self._http_transport = http_transport
        self._sleep = sleep
        self._clock = clock
        self._random_fraction = random_fraction
        self._http: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._urls: dict[str, httpx.URL] = {}  # each method's absolute URL, parsed once
        self.stats = RequestStats()

    @property
    def is_open(self) -> bool:
        """Whether `open()` was called and `close()` not yet."""
        return self._http is not None

    def open(self) -> None:
        """Create the shared connection pool; must run inside the event loop that will use it."""
        if self._http is not None:
            raise RuntimeError("the client is already open")
        self._semaphore = asyncio.Semaphore(self._max_concurrency)
        self._http = httpx.AsyncClient(
            base_url=self._settings.server_address + API_PATH,
            auth=_ApiKeyAuth(self._settings.api_token),
            headers=self._headers,
            timeout=self._timeout,
            limits=httpx.Limits(
                max_connections=self._max_concurrency, max_keepalive_connections=self._max_concurrency
            ),
            transport=self._http_transport or pooled_transport(self._max_concurrency),
            verify=shared_ssl_context(),
        )

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def post(self, method: str, body: Mapping[str, Any], *, idempotent: bool) -> Any:
        """Post `body` to `method` and return the decoded JSON reply, retrying what is transient.

        Raises:
            AmbiguousWriteError: a non-idempotent write failed in a way that leaves its outcome unknown.
            SuperviselyError: any other failure, as the subclass matching its kind.
        """
        if not _METHOD_NAME.match(method):
            raise ValueError(f"not an API method name: {method!r}")
        self.stats.calls[method] += 1
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            self.stats.requests[method] += 1
            outcome = await self._attempt(method, body)
            if not isinstance(outcome, _Failure):
                return outcome
            if outcome.may_have_applied and not idempotent:
                self.stats.failures[method] += 1
                raise AmbiguousWriteError(method, outcome.error) from outcome.error
            delay = self._retry_delay(outcome, attempt, started)
            if delay is None:
                self.stats.failures[method] += 1
                raise outcome.error
            self.stats.retries[method] += 1
            logger.warning(
                "%s; retry %d of %d in %.2f s", outcome.error, attempt, self._policy.max_attempts - 1, delay
            )
            await self._sleep(delay)

    def _retry_delay(self, failure: _Failure, attempt: int, started: float) -> float | None:
        """The pause before the next attempt, or None when the failure is final or the budget is spent."""
        if not failure.retryable or attempt >= self._policy.max_attempts:
            return None
        if failure.retry_after is not None:
            delay = failure.retry_after
        else:
            delay = self._policy.backoff(attempt, self._random_fraction())
        if self._clock() - started + delay > self._policy.max_total:
            return None
        return delay

    async def _attempt(self, method: str, body: Mapping[str, Any]) -> Any:
        """One HTTP exchange: the decoded reply, or a `_Failure` describing what went wrong."""
        if self._http is None or self._semaphore is None:
            raise RuntimeError("the client is not open; use `async with SuperviselyClient(...) as api:`")
        try:
            # The body as orjson writes it (the json module took longer on jobs' id lists); the URL parsed once.
            request = self._http.build_request(
                "POST",
                self._url(self._http, method),
                content=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
                headers=_JSON_BODY,
            )
            async with self._semaphore:
                response = await self._http.send(request)
            # Reading the body can still fail (e.g. a corrupt gzip stream): that is a transport failure too.
            if response.is_success:
                return self._decode(method, response)
            return self._status_failure(method, response)
        except httpx.RequestError as exc:
            return self._transport_failure(method, exc)

    def _url(self, http: httpx.AsyncClient, method: str) -> httpx.URL:
        """The absolute URL of an API method (a validated name: letters, digits, `_.-`, no slash)."""
        url = self._urls.get(method)
        if url is None:
            url = self._urls[method] = http.base_url.join(method)
        return url

    def _transport_failure(self, method: str, exc: httpx.RequestError) -> _Failure:
        text = self.redact(str(exc))
        description = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        error = TransportError(None, description, None, method)
        error.__cause__ = exc
        sent = not isinstance(exc, NOT_SENT_TRANSIENT + NOT_SENT_FINAL)
        return _Failure(error, retryable=is_transient_request_error(exc), may_have_applied=sent)

    def _status_failure(self, method: str, response: httpx.Response) -> _Failure:
        status = response.status_code
        if response.is_redirect:
            location = self.redact(response.headers.get("location", "?"))
            error_text, details = (
                "redirected",
                {"message": f"the server redirects to {location}; use that address"},
            )
        else:
            reason = response.reason_phrase or str(status)
            error_text, details = parse_error_body(self.redact(response.text), reason)
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        error = error_for_status(method, status, error_text, details, retry_after=retry_after)
        # A 429, or a 503 that names a retry time, is the server refusing the request before handling it;
        # the other transient statuses (408, 5xx) leave unknown whether it was handled.
        refused_unhandled = status == 429 or (status == _SERVICE_UNAVAILABLE and retry_after is not None)
        retryable = is_transient_status(status)
        return _Failure(
            error,
            retryable=retryable,
            may_have_applied=retryable and not refused_unhandled,
            retry_after=retry_after if status in (429, _SERVICE_UNAVAILABLE) else None,
        )

    def _decode(self, method: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)  # several times faster than json on pages of 20,000 images
        except ValueError:
            excerpt = self.redact(response.text[:200])
            raise ResponseFormatError(
                response.status_code, "reply is not JSON", {"message": excerpt}, method
            ) from None

    def redact(self, text: str) -> str:
        """Replace the API token in `text`, should a server or a library ever echo it."""
        token = self._settings.api_token.get_secret_value()
        return text.replace(token, REDACTED) if token else text
