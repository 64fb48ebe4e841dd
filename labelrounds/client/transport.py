"""The HTTP layer: one pooled httpx.AsyncClient, a concurrency limit, and retries of transient failures."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
from httpx._utils import get_environment_proxies  # httpx's reading of the proxy variables

from labelrounds.client.config import ConnectionSettings, RetryPolicy
from labelrounds.client.errors import (
    AmbiguousWriteError,
    ResponseFormatError,
    SuperviselyError,
    TransportError,
    error_for_status,
    parse_error_body,
)
from labelrounds.client.network import AsyncioBackend, LinearPool
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
    """httpx's transport, its connection pool (httpcore's, scanned linearly) on asyncio streams (`network`).

    Everything else is httpx's default: HTTP/1.1, keep-alive, TLS verified with `ssl_context` (default
    `shared_ssl_context`, httpx's own).
    """
    context = ssl_context or shared_ssl_context()
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits)
    # httpx builds its pool without a way to name the backend; the pool's own constructor takes one.
    transport._pool = LinearPool(  # noqa: SLF001
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return transport


def environment_proxies(max_connections: int) -> dict[str, httpx.AsyncBaseTransport | None]:
    """httpx's transports for the proxies the environment names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY).

    httpx reads them itself only when it builds its own transport; `pooled_transport` replaces that one, so the
    client mounts them as httpx would (None: a NO_PROXY host, sent directly through the pool).
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return {
        pattern: None
        if url is None
        else httpx.AsyncHTTPTransport(proxy=url, verify=shared_ssl_context(), limits=limits)
        for pattern, url in get_environment_proxies().items()
    }


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
        random_fraction: Callable[[], float] | None = None,
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
        # A generator of its own unless given: jitter never moves the global `random` state.
        self._random_fraction = random_fraction or random.Random().random  # noqa: S311 - jitter, not security
        self._http: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._routes: dict[str, tuple[httpx.URL, httpx.AsyncBaseTransport]] = {}  # per method, found once
        self._request_headers = httpx.Headers()  # built on open: httpx's defaults, `headers`, the token
        self._extensions: dict[str, Any] = {"timeout": httpx.Timeout(timeout).as_dict()}
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
        # The client holds the pool, the proxies found in the environment, and the default headers; requests
        # go straight to the transport it picks for their URL (`_route`), not through `send`: its auth, cookie,
        # redirect and hook layers cost ~0.2 ms of CPU a request, and the API needs none of them (the token
        # is a header, 3xx replies are errors here).
        self._http = httpx.AsyncClient(
            base_url=self._settings.server_address + API_PATH,
            headers=self._headers,
            timeout=self._timeout,
            limits=httpx.Limits(
                max_connections=self._max_concurrency, max_keepalive_connections=self._max_concurrency
            ),
            transport=self._http_transport or pooled_transport(self._max_concurrency),
            mounts=None if self._http_transport else environment_proxies(self._max_concurrency),
            verify=shared_ssl_context(),
        )
        self._request_headers = httpx.Headers(self._http.headers)
        self._request_headers.update(_JSON_BODY)
        self._request_headers[API_KEY_HEADER] = self._settings.api_token.get_secret_value()

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        http, self._http = self._http, None
        self._routes.clear()
        self._request_headers = httpx.Headers()
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
        url, transport = self._route(self._http, method)
        try:
            async with self._semaphore:
                # The body as orjson writes it (the json module took longer on jobs' id lists), encoded inside
                # the limit: orjson's buffer for a job of 20,000 ids is ~4 MB, and 50 jobs.add waiting at once
                # held 50 of them (+100 MB peak RSS at 1M images).
                request = httpx.Request(
                    "POST",
                    url,
                    headers=self._request_headers,
                    content=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
                    extensions=self._extensions,
                )
                response = await transport.handle_async_request(request)
                try:
                    # Reading the body can still fail (e.g. a corrupt gzip stream): a transport failure too.
                    await response.aread()
                finally:
                    await response.aclose()
            response.request = request
            if response.is_success:
                return self._decode(method, response)
            return self._status_failure(method, response)
        except httpx.RequestError as exc:
            return self._transport_failure(method, exc)

    def _route(self, http: httpx.AsyncClient, method: str) -> tuple[httpx.URL, httpx.AsyncBaseTransport]:
        """An API method's absolute URL (a validated name: letters, digits, `_.-`, no slash) and its transport.

        The transport is the one httpx's client would use for the URL: a proxy's when the environment names
        one for it, else the pool.
        """
        route = self._routes.get(method)
        if route is None:
            url = http.base_url.join(method)
            route = self._routes[method] = (url, http._transport_for_url(url))  # noqa: SLF001
        return route

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
