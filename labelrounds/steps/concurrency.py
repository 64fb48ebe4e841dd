"""Run independent API calls of a step concurrently (the client's `max_concurrency` bounds how many at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def run_all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Await every call concurrently and return their results in order.

    Every call runs to its end even when another fails (so none is left half-done), then the first failure, in
    call order, is raised.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)  # type: ignore[arg-type] - no exception is left among them
