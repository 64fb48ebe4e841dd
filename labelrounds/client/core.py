"""The client's core: lifecycle, the one low-level `call`, and the listing/parsing helpers the endpoints share."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from labelrounds.client.config import ConnectionSettings, RetryPolicy
from labelrounds.client.errors import NotFoundError
from labelrounds.client.pagination import DEFAULT_PER_PAGE, iter_page_batches, iter_pages
from labelrounds.client.parsing import parse_model
from labelrounds.client.stats import RequestStats
from labelrounds.client.transport import Sleep, Transport

DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_TIMEOUT = 60.0

_Model = TypeVar("_Model", bound=BaseModel)


class ClientCore:
    """Owns the transport; every typed endpoint goes through `call` (or `iter_pages`/`collect` for listings)."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        retry_policy: RetryPolicy | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure the client; the connection pool opens on `async with`.

        Args:
            settings: server address and API token.
            retry_policy: how transient failures are retried (default `RetryPolicy()`).
            max_concurrency: requests in flight at once; also the connection pool size.
            timeout: seconds for each of connect, read, write and pool acquisition.
            headers: extra headers for every request (e.g. `x-labelrounds-actor`); never the token.
            transport: an httpx transport to use instead of the network (tests, fault wrappers).
            sleep: the coroutine used to wait between retries (tests pass a fake).
            clock: monotonic clock used for the retry time budget (tests pass a fake).
        """
        self._settings = settings
        self._max_concurrency = max_concurrency
        self._transport = Transport(
            settings,
            retry_policy=retry_policy or RetryPolicy(),
            max_concurrency=max_concurrency,
            timeout=timeout,
            headers=headers,
            http_transport=transport,
            sleep=sleep,
            clock=clock,
            # A generator of its own: retry jitter never moves the global `random` state that callers may seed
            # (and that Hypothesis checks during its draws, in tests sharing a process with clients).
            random_fraction=random.Random().random,  # noqa: S311 - jitter, not security
        )

    async def __aenter__(self) -> Self:
        self._transport.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; safe to call twice."""
        await self._transport.close()

    def __repr__(self) -> str:
        state = "open" if self._transport.is_open else "closed"
        return (
            f"{type(self).__name__}(server_address={self._settings.server_address!r}, "
            f"max_concurrency={self._max_concurrency}, {state})"
        )

    @property
    def server_address(self) -> str:
        """The normalised server address."""
        return self._settings.server_address

    @property
    def stats(self) -> RequestStats:
        """Per-method counters of calls, HTTP requests, retries and failures."""
        return self._transport.stats

    async def call(self, method: str, body: Mapping[str, Any] | None = None, *, idempotent: bool) -> Any:
        """Post `body` to `/public/api/v3/<method>` and return the decoded JSON reply.

        Args:
            method: a dotted API method name, e.g. `jobs.list`.
            body: the JSON request body (default `{}`).
            idempotent: whether sending the request twice is harmless; a non-idempotent write is retried only
                when it certainly did not reach the server, and raises `AmbiguousWriteError` when its outcome is
                unknown.
        """
        return await self._transport.post(method, body or {}, idempotent=idempotent)

    def iter_pages(
        self, method: str, body: Mapping[str, Any] | None = None, *, per_page: int = DEFAULT_PER_PAGE
    ) -> AsyncIterator[dict[str, Any]]:
        """Iterate over a listing's entities, each once even while others create and remove items (`pagination`)."""
        return iter_pages(self._read, method, body or {}, per_page=per_page)

    def iter_page_batches(
        self, method: str, body: Mapping[str, Any] | None = None, *, per_page: int = DEFAULT_PER_PAGE
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The entities of `iter_pages` a page at a time (for decoding whole pages into columns)."""
        return iter_page_batches(self._read, method, body or {}, per_page=per_page)

    async def collect(
        self, method: str, body: Mapping[str, Any] | None = None, *, per_page: int = DEFAULT_PER_PAGE
    ) -> list[dict[str, Any]]:
        """All entities of a listing, every page walked."""
        return [entity async for entity in self.iter_pages(method, body, per_page=per_page)]

    async def _read(self, method: str, body: Mapping[str, Any]) -> Any:
        return await self.call(method, body, idempotent=True)

    async def _write(self, method: str, body: Mapping[str, Any]) -> Any:
        """An idempotent write: setting a state twice gives the same state."""
        return await self.call(method, body, idempotent=True)

    async def _get(self, model_type: type[_Model], method: str, body: Mapping[str, Any]) -> _Model:
        return parse_model(model_type, await self._read(method, body), method)

    async def _get_or_none(
        self, model_type: type[_Model], method: str, body: Mapping[str, Any]
    ) -> _Model | None:
        """A `*.info` lookup where 404 means "no such object" (as in the SDK)."""
        try:
            reply = await self._read(method, body)
        except NotFoundError:
            return None
        return parse_model(model_type, reply, method)

    async def _iter_models(
        self,
        model_type: type[_Model],
        method: str,
        body: Mapping[str, Any],
        *,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> AsyncIterator[_Model]:
        async for entity in self.iter_pages(method, body, per_page=per_page):
            yield parse_model(model_type, entity, method)

    async def _list_models(
        self,
        model_type: type[_Model],
        method: str,
        body: Mapping[str, Any],
        *,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> list[_Model]:
        return [item async for item in self._iter_models(model_type, method, body, per_page=per_page)]
