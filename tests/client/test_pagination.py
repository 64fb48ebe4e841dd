"""Pagination: explicit page size, keyset walks for jobs/images, bounded restarts elsewhere, malformed replies refused."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from labelrounds.client import Filter, PaginationError, ResponseFormatError

from .payloads import JOB
from .support import reply

Mutation = Callable[[list[dict[str, Any]], int], None]


class ListingServer:
    """Serves `items` sorted by id, honouring `page`/`per_page` and `id >` filters; `between(items, n)` may change
    the items before the n-th request (1-based), as a concurrent writer would."""

    def __init__(
        self,
        items: list[dict[str, Any]],
        *,
        between: Mutation | None = None,
        announced_total: int | None = None,
        ignore_id_filter: bool = False,
    ) -> None:
        self.items = items
        self.between = between
        self.announced_total = announced_total
        self.ignore_id_filter = ignore_id_filter
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.between is not None:
            self.between(self.items, self.requests)
        body = json.loads(request.content)
        page, per_page = body["page"], body["per_page"]
        served = sorted(self.items, key=lambda item: item["id"])
        if not self.ignore_id_filter:
            for condition in body.get("filter", []):
                if condition["field"] == "id" and condition["operator"] == ">":
                    served = [item for item in served if item["id"] > condition["value"]]
        total = len(served) if self.announced_total is None else self.announced_total
        chunk = served[(page - 1) * per_page : page * per_page]
        pages_count = max(1, math.ceil(len(served) / per_page))
        return reply({"total": total, "perPage": per_page, "pagesCount": pages_count, "entities": chunk})


def images(count: int, first_id: int = 1000) -> list[dict[str, Any]]:
    return [{"id": first_id + i, "name": f"IMG_{i}.jpeg", "mime": "image/jpeg"} for i in range(count)]


def teams(count: int) -> list[dict[str, Any]]:
    return [{"id": 1 + i, "name": f"team {i}", "role": "admin"} for i in range(count)]


async def team_ids(client: Any, *, per_page: int) -> list[int]:
    """`teams.list` (a page-number walk) with a small page size, as ids."""
    return [team["id"] for team in await client.collect("teams.list", {"filter": []}, per_page=per_page)]


def id_filters(body: dict[str, Any]) -> list[Any]:
    return [condition["value"] for condition in body["filter"] if condition["field"] == "id"]


async def test_images_are_walked_by_keyset_one_request_a_page(make_client) -> None:
    async with make_client(ListingServer(images(7))) as ctx:
        listed = await ctx.client.list_images(1001, per_page=3)
    assert [image.id for image in listed] == [1000 + i for i in range(7)]
    bodies = ctx.recorder.bodies
    assert [(body["page"], body["per_page"]) for body in bodies] == [(1, 3), (1, 3), (1, 3)]
    assert [id_filters(body) for body in bodies] == [[], [1002], [1005]]
    assert bodies[1]["filter"] == [{"field": "id", "operator": ">", "value": 1002}]
    assert all(body["sort"] == "id" and body["sort_order"] == "asc" for body in bodies)
    assert bodies[0]["datasetId"] == 1001


async def test_a_last_full_page_ends_the_keyset_walk_without_an_extra_request(make_client) -> None:
    async with make_client(ListingServer(images(6))) as ctx:
        listed = await ctx.client.list_images(1001, per_page=3)
    assert len(listed) == 6
    assert len(ctx.recorder.requests) == 2


async def test_iter_images_streams_models(make_client) -> None:
    async with make_client(ListingServer(images(5))) as ctx:
        names = [image.name async for image in ctx.client.iter_images(1001, per_page=2)]
    assert names == [f"IMG_{i}.jpeg" for i in range(5)]
    assert len(ctx.recorder.requests) == 3


def churn(items: list[dict[str, Any]], request_number: int) -> None:
    """Before every request after the first: remove the lowest id and add one above the highest."""
    if request_number > 1:
        items.remove(min(items, key=lambda item: item["id"]))
        items.append({"id": max(item["id"] for item in items) + 1, "name": "new", "mime": "image/jpeg"})


async def test_keyset_lists_each_lasting_item_once_while_others_add_and_remove(make_client) -> None:
    originals = images(10)
    server = ListingServer(list(originals), between=churn)
    async with make_client(server) as ctx:
        listed = [image.id for image in await ctx.client.list_images(1001, per_page=3)]
    removed = {item["id"] for item in originals} - {item["id"] for item in server.items}
    lasting = [item["id"] for item in originals if item["id"] not in removed]
    assert len(listed) == len(set(listed))
    assert set(lasting) <= set(listed)


async def test_a_page_number_walk_restarts_when_the_listing_changes_and_repeats_nothing(make_client) -> None:
    def add_one_during_the_first_walk(items: list[dict[str, Any]], request_number: int) -> None:
        if request_number == 2:
            items.append({"id": 100, "name": "new team", "role": "admin"})

    async with make_client(ListingServer(teams(5), between=add_one_during_the_first_walk)) as ctx:
        listed = await team_ids(ctx.client, per_page=2)
    assert listed == [1, 2, 3, 4, 5, 100]
    # Walk 1: page 1, then page 2 sees total 6 → walk 2: pages 1..3.
    assert [body["page"] for body in ctx.recorder.bodies] == [1, 2, 1, 2, 3]


async def test_a_page_number_walk_gives_up_after_bounded_restarts(make_client) -> None:
    def add_one_each_time(items: list[dict[str, Any]], request_number: int) -> None:
        items.append({"id": 1000 + request_number, "name": "new team", "role": "admin"})

    async with make_client(ListingServer(teams(5), between=add_one_each_time)) as ctx:
        with pytest.raises(PaginationError, match=r"gave up after 3 restart\(s\).*total changed"):
            await team_ids(ctx.client, per_page=2)
    assert len(ctx.recorder.requests) == 8  # 4 walks of 2 requests


async def test_collect_keeps_a_given_sort_and_walks_page_numbers(make_client) -> None:
    async with make_client(ListingServer([{"id": 3}, {"id": 2}])) as ctx:
        entities = await ctx.client.collect("jobs.list", {"teamId": 8, "sort": "name"}, per_page=1)
    assert entities == [{"id": 2}, {"id": 3}]
    assert [(body["sort"], body["page"]) for body in ctx.recorder.bodies] == [("name", 1), ("name", 2)]


async def test_a_stable_total_that_does_not_add_up_is_an_error(make_client) -> None:
    async with make_client(ListingServer(teams(4), announced_total=5)) as ctx:
        with pytest.raises(PaginationError) as caught:
            await team_ids(ctx.client, per_page=2)
    assert "collected 4 items over 2 page(s) but the server announced 5" in str(caught.value)
    assert caught.value.method == "teams.list"


async def test_more_items_than_announced_is_an_error(make_client) -> None:
    async with make_client(ListingServer(teams(4), announced_total=2)) as ctx:
        with pytest.raises(PaginationError, match="collected 3 items by page 1 but the server announced 2"):
            await team_ids(ctx.client, per_page=3)


async def test_a_server_ignoring_the_id_filter_is_refused_at_once(make_client) -> None:
    async with make_client(ListingServer(images(5), ignore_id_filter=True)) as ctx:
        with pytest.raises(PaginationError, match="id 1000 came after id 1001 at page 2: ids must increase"):
            await ctx.client.list_images(1001, per_page=2)
    assert len(ctx.recorder.requests) == 2


async def test_keyset_refuses_announced_items_that_never_come(make_client) -> None:
    async with make_client(
        lambda request: reply({"total": 3, "perPage": 500, "pagesCount": 1, "entities": []})
    ) as ctx:
        with pytest.raises(PaginationError, match="announced 3 more items but sent none"):
            await ctx.client.list_jobs(8)


async def test_keyset_refuses_a_listing_that_never_ends(make_client) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        after = id_filters(json.loads(request.content))
        start = after[0] + 1 if after else 1
        return reply(
            {"total": 10, "perPage": 2, "pagesCount": 5, "entities": [{"id": start}, {"id": start + 1}]}
        )

    async with make_client(endless) as ctx:
        with pytest.raises(
            PaginationError, match="collected 24 items by page 12 of a listing that started at 10"
        ):
            await ctx.client.collect("jobs.list", {"teamId": 8}, per_page=2)
    # Others may add items while the walk goes on, but not more than twice what was announced plus a page.
    assert len(ctx.recorder.requests) == 12


async def test_keyset_refuses_an_item_without_an_integer_id(make_client) -> None:
    async with make_client(
        lambda request: reply({"total": 1, "perPage": 500, "pagesCount": 1, "entities": [{"id": "7"}]})
    ) as ctx:
        with pytest.raises(PaginationError, match="no integer id"):
            await ctx.client.list_jobs(8)


async def test_a_page_number_walk_takes_items_without_ids(make_client) -> None:
    annotations = [{"imageId": 1002, "annotation": {}}, {"imageId": 1003, "annotation": {}}]
    async with make_client(
        lambda request: reply({"total": 2, "perPage": 500, "pagesCount": 1, "entities": annotations})
    ) as ctx:
        assert await ctx.client.collect("annotations.list", {"datasetId": 1001}) == annotations


async def test_an_empty_listing_with_zero_pages(make_client) -> None:
    async with make_client(
        lambda request: reply({"total": 0, "perPage": 500, "pagesCount": 0, "entities": []})
    ) as ctx:
        assert await ctx.client.list_jobs(8) == []
        assert await ctx.client.list_teams() == []
    assert len(ctx.recorder.requests) == 2


async def test_a_reply_that_is_not_an_envelope_is_a_format_error(make_client) -> None:
    async with make_client(lambda request: reply([{"id": 1}])) as ctx:
        with pytest.raises(ResponseFormatError):
            await ctx.client.list_teams()
    async with make_client(
        lambda request: reply({"total": 1, "perPage": 500, "entities": [{"id": 1}]})
    ) as ctx:
        with pytest.raises(ResponseFormatError, match="pagesCount: Field required"):
            await ctx.client.list_teams()


async def test_filters_are_sent_on_the_wire_and_the_keyset_condition_is_added(make_client) -> None:
    filters = [
        Filter.eq("projectId", 13487),
        Filter.in_("id", (4, 5)),
        Filter.not_in("status", ["completed"]),
        Filter.is_null("labelingQueueId"),
        Filter.ne("reviewerId", 7),
    ]
    wire = [
        {"field": "projectId", "operator": "=", "value": 13487},
        {"field": "id", "operator": "in", "value": [4, 5]},
        {"field": "status", "operator": "!in", "value": ["completed"]},
        {"field": "labelingQueueId", "operator": "=", "value": None},
        {"field": "reviewerId", "operator": "!=", "value": 7},
    ]
    async with make_client(ListingServer([{**JOB, "id": 4}, {**JOB, "id": 5}])) as ctx:
        await ctx.client.list_jobs(8, filters, show_disabled=True, per_page=1)
    first, second = ctx.recorder.bodies
    assert first["teamId"] == 8 and first["showDisabled"] is True
    assert first["filter"] == wire
    assert second["filter"] == [*wire, {"field": "id", "operator": ">", "value": 4}]


def test_filter_refuses_a_single_string_as_values() -> None:
    with pytest.raises(TypeError):
        Filter.in_("login", "alice")
    with pytest.raises(ValueError):
        Filter.eq("", 1)


async def test_page_size_must_be_positive(make_client) -> None:
    async with make_client(ListingServer([])) as ctx:
        with pytest.raises(ValueError):
            await ctx.client.list_images(1, per_page=0)
    assert ctx.recorder.requests == []
