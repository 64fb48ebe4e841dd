"""Walking a paginated `*.list` method page by page, checking that the pages add up to the announced total."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from labelrounds.client.errors import PaginationError
from labelrounds.client.models.pagination import Page
from labelrounds.client.parsing import parse_model

DEFAULT_PER_PAGE = 500
DEFAULT_SORT = {"sort": "id", "sort_order": "asc"}

ReadCall = Callable[[str, dict[str, Any]], Awaitable[Any]]


async def iter_pages(
    read: ReadCall, method: str, body: Mapping[str, Any], *, per_page: int = DEFAULT_PER_PAGE
) -> AsyncIterator[dict[str, Any]]:
    """Yield the entities of every page of `method`, asking explicitly for `per_page` items a page.

    Pages are requested one after the other, `page` 1..`pagesCount`, sorted by id ascending unless `body`
    names its own `sort`.

    Args:
        read: sends one idempotent request and returns the decoded reply.
        method: the listing method, e.g. `jobs.list`.
        body: the request body without `page`/`per_page`.
        per_page: page size to ask for.

    Raises:
        PaginationError: `total` changed between pages, or the entities collected differ from `total` (raised
            as soon as they exceed it).
        ResponseFormatError: a reply is not a list envelope.
    """
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    request = {**DEFAULT_SORT, **body}
    expected_total: int | None = None
    collected = 0
    page_number = 1
    while True:
        page = parse_model(
            Page, await read(method, {**request, "page": page_number, "per_page": per_page}), method
        )
        if expected_total is None:
            expected_total = page.total
        elif page.total != expected_total:
            raise _pagination_error(
                method, f"total changed from {expected_total} to {page.total} at page {page_number}"
            )
        for entity in page.entities:
            yield entity
        collected += len(page.entities)
        if collected > expected_total:  # also stops a reply that announces endless pages
            raise _pagination_error(
                method,
                f"collected {collected} items by page {page_number} but the server announced {expected_total}",
            )
        if page_number >= page.pages_count or not page.entities:
            break
        page_number += 1
    if collected != expected_total:
        raise _pagination_error(
            method,
            f"collected {collected} items over {page_number} page(s) but the server announced {expected_total}",
        )


def _pagination_error(method: str, message: str) -> PaginationError:
    return PaginationError(200, "pagination mismatch", {"message": message}, method)
