"""Pagination: explicit page size, every page walked, totals checked."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from labelrounds.client import Filter, PaginationError, ResponseFormatError

from .support import reply


def paged_server(
    items: list[dict[str, Any]], *, announced_total: int | None = None, shrink_after_page: int | None = None
):
    """A handler serving `items` in pages of the requested `per_page`."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        page, per_page = body["page"], body["per_page"]
        served = items[: len(items) - 1] if shrink_after_page and page > shrink_after_page else items
        total = len(served) if announced_total is None else announced_total
        chunk = served[(page - 1) * per_page : page * per_page]
        pages_count = max(1, math.ceil(len(served) / per_page))
        return reply({"total": total, "perPage": per_page, "pagesCount": pages_count, "entities": chunk})

    return handler


def images(count: int) -> list[dict[str, Any]]:
    return [{"id": 1000 + i, "name": f"IMG_{i}.jpeg", "mime": "image/jpeg"} for i in range(count)]


async def test_walks_every_page_with_an_explicit_page_size(make_client) -> None:
    async with make_client(paged_server(images(7))) as ctx:
        listed = await ctx.client.list_images(1001, per_page=3)
    assert [image.id for image in listed] == [1000 + i for i in range(7)]
    assert [(body["page"], body["per_page"]) for body in ctx.recorder.bodies] == [(1, 3), (2, 3), (3, 3)]
    first = ctx.recorder.bodies[0]
    assert first["sort"] == "id" and first["sort_order"] == "asc"
    assert first["datasetId"] == 1001 and first["filter"] == []


async def test_iter_images_streams_models(make_client) -> None:
    async with make_client(paged_server(images(5))) as ctx:
        names = [image.name async for image in ctx.client.iter_images(1001, per_page=2)]
    assert names == [f"IMG_{i}.jpeg" for i in range(5)]
    assert len(ctx.recorder.requests) == 3


async def test_collect_returns_raw_entities_and_keeps_a_given_sort(make_client) -> None:
    async with make_client(paged_server([{"id": 3}, {"id": 2}])) as ctx:
        entities = await ctx.client.collect("jobs.list", {"teamId": 8, "sort": "name"}, per_page=1)
    assert entities == [{"id": 3}, {"id": 2}]
    assert ctx.recorder.bodies[0]["sort"] == "name"


async def test_a_total_that_does_not_add_up_is_an_error(make_client) -> None:
    async with make_client(paged_server(images(4), announced_total=5)) as ctx:
        with pytest.raises(PaginationError) as caught:
            await ctx.client.list_images(1001, per_page=2)
    assert "collected 4 items over 2 page(s) but the server announced 5" in str(caught.value)
    assert caught.value.method == "images.list"


async def test_a_total_that_changes_between_pages_is_an_error(make_client) -> None:
    async with make_client(paged_server(images(6), shrink_after_page=1)) as ctx:
        with pytest.raises(PaginationError, match="total changed from 6 to 5 at page 2"):
            await ctx.client.list_images(1001, per_page=2)


async def test_an_empty_listing_with_zero_pages(make_client) -> None:
    async with make_client(
        lambda request: reply({"total": 0, "perPage": 500, "pagesCount": 0, "entities": []})
    ) as ctx:
        assert await ctx.client.list_jobs(8) == []
    assert len(ctx.recorder.requests) == 1


async def test_a_reply_that_is_not_an_envelope_is_a_format_error(make_client) -> None:
    async with make_client(lambda request: reply([{"id": 1}])) as ctx:
        with pytest.raises(ResponseFormatError):
            await ctx.client.list_teams()
    async with make_client(
        lambda request: reply({"total": 1, "perPage": 500, "entities": [{"id": 1}]})
    ) as ctx:
        with pytest.raises(ResponseFormatError, match="pagesCount: Field required"):
            await ctx.client.list_teams()


async def test_filters_are_sent_on_the_wire(make_client) -> None:
    filters = [
        Filter.eq("projectId", 13487),
        Filter.in_("id", (4, 5)),
        Filter.not_in("status", ["completed"]),
        Filter.is_null("labelingQueueId"),
        Filter.ne("reviewerId", 7),
    ]
    async with make_client(paged_server([])) as ctx:
        await ctx.client.list_jobs(8, filters, show_disabled=True)
    body = ctx.recorder.bodies[0]
    assert body["teamId"] == 8 and body["showDisabled"] is True
    assert body["filter"] == [
        {"field": "projectId", "operator": "=", "value": 13487},
        {"field": "id", "operator": "in", "value": [4, 5]},
        {"field": "status", "operator": "!in", "value": ["completed"]},
        {"field": "labelingQueueId", "operator": "=", "value": None},
        {"field": "reviewerId", "operator": "!=", "value": 7},
    ]


def test_filter_refuses_a_single_string_as_values() -> None:
    with pytest.raises(TypeError):
        Filter.in_("login", "alice")
    with pytest.raises(ValueError):
        Filter.eq("", 1)


async def test_page_size_must_be_positive(make_client) -> None:
    async with make_client(paged_server([])) as ctx:
        with pytest.raises(ValueError):
            await ctx.client.list_images(1, per_page=0)
    assert ctx.recorder.requests == []
