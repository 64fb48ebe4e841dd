"""Walking a paginated `*.list` method so that concurrent writers never break or corrupt the listing.

Two walks, one request per page either way:

- keyset (`jobs.list`, `images.list` sorted by id ascending): always page 1 of "the rest", the items with
  `id > last id seen`. An item that exists for the whole walk is listed exactly once however many items others
  create or remove meanwhile, and the walk never fails for it.
- page numbers (every other listing, or a custom sort): pages 1..`pagesCount`, yielded once the whole walk is
  seen to be stable; when the listing visibly changes under it (`total` moves, an id comes twice) the walk
  starts again from page 1, and gives up with `PaginationError` after a bounded number of restarts. A removal
  and a creation between the same two pages leave `total` unchanged and cannot be seen: these listings (users,
  members, teams, projects, datasets...) are short, usually a single page, where that cannot happen.

`PaginationError` otherwise means a malformed reply: pages that never end, more items than announced on a stable
listing, ids that do not increase under the id filter.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from labelrounds.client.errors import PaginationError
from labelrounds.client.models.pagination import Page
from labelrounds.client.parsing import parse_model

DEFAULT_PER_PAGE = 500
DEFAULT_SORT = {"sort": "id", "sort_order": "asc"}
DEFAULT_MAX_RESTARTS = 3

KEYSET_METHODS = frozenset({"jobs.list", "images.list"})
"""Listings whose `filter` accepts `{"field": "id", "operator": ">", ...}`, so they are walked by keyset."""

ReadCall = Callable[[str, dict[str, Any]], Awaitable[Any]]


def iter_pages(
    read: ReadCall,
    method: str,
    body: Mapping[str, Any],
    *,
    per_page: int = DEFAULT_PER_PAGE,
    max_restarts: int = DEFAULT_MAX_RESTARTS,
) -> AsyncIterator[dict[str, Any]]:
    """Yield every entity of a listing once, asking explicitly for `per_page` items a page.

    Sorted by id ascending unless `body` names its own `sort`. Keyset methods sorted by id ascending are walked
    by keyset, the others by page number with bounded restarts (see the module docstring).

    Args:
        read: sends one idempotent request and returns the decoded reply.
        method: the listing method, e.g. `jobs.list`.
        body: the request body without `page`/`per_page`.
        per_page: page size to ask for.
        max_restarts: how often a page-number walk starts again after the listing changed under it.

    Raises:
        PaginationError: a malformed listing, or a page-number walk that kept changing after `max_restarts`.
        ResponseFormatError: a reply is not a list envelope.
    """
    return _flatten(iter_page_batches(read, method, body, per_page=per_page, max_restarts=max_restarts))


def iter_page_batches(
    read: ReadCall,
    method: str,
    body: Mapping[str, Any],
    *,
    per_page: int = DEFAULT_PER_PAGE,
    max_restarts: int = DEFAULT_MAX_RESTARTS,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The entities of `iter_pages` in batches (a keyset walk: one batch per page; a page-number walk: one batch).

    For callers that decode whole pages at once (e.g. into columns) instead of one entity at a time.
    """
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    if max_restarts < 0:
        raise ValueError("max_restarts must not be negative")
    request = {**DEFAULT_SORT, **body}
    if method in KEYSET_METHODS and request["sort"] == "id" and request["sort_order"] == "asc":
        return _iter_keyset(read, method, request, per_page)
    return _iter_restarting(read, method, request, per_page, max_restarts)


async def _flatten(batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[dict[str, Any]]:
    async for batch in batches:
        for entity in batch:
            yield entity


async def _iter_keyset(
    read: ReadCall, method: str, request: dict[str, Any], per_page: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Page 1 of the items after the last id seen, until a page holds all the rest the server announces."""
    conditions = list(request.get("filter") or [])
    last_id: int | None = None
    first_total: int | None = None
    collected = 0
    pages = 0
    while True:
        after = [] if last_id is None else [{"field": "id", "operator": ">", "value": last_id}]
        reply = await read(
            method, {**request, "filter": [*conditions, *after], "page": 1, "per_page": per_page}
        )
        page = _page(reply, method)
        pages += 1
        first_total = page.total if first_total is None else first_total
        # One reply is consistent in itself: a page shorter than both its size and the rest announced lost items.
        if page.entities and len(page.entities) < min(per_page, page.per_page, page.total):
            raise _pagination_error(
                method,
                f"page {pages} holds {len(page.entities)} items, but {page.total} remain and pages hold "
                f"{min(per_page, page.per_page)}",
            )
        if page.entities:
            ids = _increasing_ids(page.entities, last_id, method, pages)
            last_id = ids[-1]
            yield page.entities
        collected += len(page.entities)
        if len(page.entities) >= page.total:
            return
        if not page.entities:
            raise _pagination_error(method, f"the server announced {page.total} more items but sent none")
        # Others may add items while we walk, but not more than were there at the start plus a page.
        if collected > 2 * first_total + per_page:
            raise _pagination_error(
                method,
                f"collected {collected} items by page {pages} of a listing that started at {first_total}",
            )


def _page(reply: Any, method: str) -> Page:
    """The list envelope of a reply: checked key by key (entities are not copied), else validated for the error."""
    if type(reply) is dict:
        total, per_page, pages_count = reply.get("total"), reply.get("perPage"), reply.get("pagesCount")
        entities = reply.get("entities")
        if (
            type(total) is int
            and type(per_page) is int
            and type(pages_count) is int
            and type(entities) is list
            and set(map(type, entities)) <= {dict}
        ):
            return Page.model_construct(
                total=total, per_page=per_page, pages_count=pages_count, entities=entities
            )
    return parse_model(Page, reply, method)


def _increasing_ids(entities: list[dict[str, Any]], last_id: int | None, method: str, page: int) -> list[int]:
    """The page's ids, checked to be integers increasing from `last_id` (one C-speed pass in the usual case)."""
    try:
        ids = [entity["id"] for entity in entities]
    except KeyError:
        ids = []
    if len(ids) != len(entities) or not set(map(type, ids)) <= {int}:
        for entity in entities:
            _entity_id(entity, method)  # raises for the first entity without an integer id
    previous = [last_id if last_id is not None else ids[0] - 1, *ids[:-1]]
    if not all(map(operator.lt, previous, ids)):
        position = next(
            index for index, (before, now) in enumerate(zip(previous, ids, strict=True)) if now <= before
        )
        raise _pagination_error(
            method, f"id {ids[position]} came after id {previous[position]} at page {page}: ids must increase"
        )
    return ids


async def _iter_restarting(
    read: ReadCall, method: str, request: dict[str, Any], per_page: int, max_restarts: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Page-number walks until one sees a stable listing, then its entities (a changed walk yields nothing)."""
    change = ""
    for _ in range(max_restarts + 1):
        try:
            entities = await _walk_page_numbers(read, method, request, per_page)
        except _ListingChanged as changed:
            change = str(changed)
            continue
        if entities:
            yield entities
        return
    raise _pagination_error(
        method, f"the listing kept changing: gave up after {max_restarts} restart(s); last change: {change}"
    )


class _ListingChanged(Exception):
    """A page-number walk saw the listing change under it (a concurrent writer); the walk must start again."""


async def _walk_page_numbers(
    read: ReadCall, method: str, request: dict[str, Any], per_page: int
) -> list[dict[str, Any]]:
    """Pages 1..`pagesCount` once, checking that they add up to a constant `total` with no id twice.

    Entities without an integer id (e.g. `annotations.list`, keyed by image) are kept; only ids are compared.
    """
    expected_total: int | None = None
    entities: list[dict[str, Any]] = []
    seen: set[int] = set()
    page_number = 1
    while True:
        page = _page(await read(method, {**request, "page": page_number, "per_page": per_page}), method)
        if expected_total is None:
            expected_total = page.total
        elif page.total != expected_total:
            raise _ListingChanged(
                f"total changed from {expected_total} to {page.total} at page {page_number}"
            )
        for entity in page.entities:
            entity_id = entity.get("id")
            if type(entity_id) is int:
                if entity_id in seen:
                    raise _ListingChanged(f"item {entity_id} listed twice by page {page_number}")
                seen.add(entity_id)
        entities += page.entities
        if len(entities) > expected_total:  # also stops a reply that announces endless pages
            raise _pagination_error(
                method,
                f"collected {len(entities)} items by page {page_number} but the server announced {expected_total}",
            )
        if page_number >= page.pages_count or not page.entities:
            break
        page_number += 1
    if len(entities) != expected_total:
        raise _pagination_error(
            method,
            f"collected {len(entities)} items over {page_number} page(s) but the server announced {expected_total}",
        )
    return entities


def _entity_id(entity: Any, method: str) -> int:
    """The entity's integer `id`, which the keyset walk relies on."""
    entity_id = entity.get("id") if isinstance(entity, dict) else None
    if type(entity_id) is not int:
        raise _pagination_error(method, "a listed item has no integer id")
    return entity_id


def _pagination_error(method: str, message: str) -> PaginationError:
    return PaginationError(200, "pagination mismatch", {"message": message}, method)
