"""`list_image_columns`: a listing decoded into columns, checked against raw reads and the typed listing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from labelrounds.client import ConnectionSettings, ResponseFormatError, SuperviselyClient
from labelrounds.client.endpoints.images import ImageColumns
from labelrounds.sandbox.server import SandboxServer

from .support import reply

LEMONS_IMAGES = 6  # the lemons seed's ds1


def assert_matches_raw(columns: ImageColumns, raw_entities: list[dict[str, Any]]) -> None:
    """The oracle: columns equal the raw reply's ids, names, label counts and sorted distinct tag ids, in order."""
    assert columns.ids == [entity["id"] for entity in raw_entities]
    assert columns.names == [entity["name"] for entity in raw_entities]
    assert columns.labels_counts == [entity.get("labelsCount") or 0 for entity in raw_entities]
    assert columns.tag_ids == [
        tuple(sorted({tag["tagId"] for tag in entity.get("tags") or []})) for entity in raw_entities
    ]


async def _raw_listing(api: SuperviselyClient, dataset_id: int) -> list[dict[str, Any]]:
    """One raw `images.list` request with a page larger than the dataset (no pagination code involved)."""
    envelope = await api.call(
        "images.list",
        {"datasetId": dataset_id, "page": 1, "per_page": 1000, "sort": "id", "sort_order": "asc"},
        idempotent=True,
    )
    assert envelope["pagesCount"] == 1
    return envelope["entities"]


@pytest.fixture
async def api(sandbox: SandboxServer) -> AsyncIterator[SuperviselyClient]:
    """An admin client on a fresh lemons sandbox."""
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    async with SuperviselyClient(settings) as client:
        yield client


async def test_columns_match_a_raw_read_over_several_pages(
    sandbox: SandboxServer, api: SuperviselyClient
) -> None:
    dataset_id = sandbox.dataset_id
    raw = await _raw_listing(api, dataset_id)
    pages_before = api.stats.requests["images.list"]

    columns = await api.list_image_columns(dataset_id, per_page=4)  # asks only for the fields it reads

    assert len(raw) == LEMONS_IMAGES and len(columns) == LEMONS_IMAGES
    assert api.stats.requests["images.list"] - pages_before == 2  # 6 images, pages of 4
    assert_matches_raw(columns, raw)
    typed = await api.list_images(dataset_id)  # the typed decoder agrees
    assert [(image.id, image.name) for image in typed] == list(zip(columns.ids, columns.names, strict=True))


def test_the_oracle_fails_on_a_dropped_or_duplicated_image() -> None:
    raw = [{"id": 1, "name": "a.jpeg"}, {"id": 2, "name": "b.jpeg", "tags": [{"tagId": 7}]}]
    dropped = ImageColumns(ids=[1], names=["a.jpeg"], labels_counts=[0], tag_ids=[()])
    duplicated = ImageColumns(
        ids=[1, 1, 2], names=["a.jpeg", "a.jpeg", "b.jpeg"], labels_counts=[0, 0, 0], tag_ids=[(), (), (7,)]
    )
    lost_tag = ImageColumns(ids=[1, 2], names=["a.jpeg", "b.jpeg"], labels_counts=[0, 0], tag_ids=[(), ()])
    for corrupted in (dropped, duplicated, lost_tag):
        with pytest.raises(AssertionError):
            assert_matches_raw(corrupted, raw)


async def test_tags_become_sorted_distinct_ids(make_client) -> None:
    entities = [
        {"id": 1, "name": "a.jpeg", "labelsCount": 3, "tags": [{"tagId": 9}, {"tagId": 4}, {"tagId": 9}]},
        {"id": 2, "name": "b.jpeg", "labelsCount": None, "tags": None},
        {"id": 3, "name": "c.jpeg"},
    ]
    page = {"total": 3, "perPage": 500, "pagesCount": 1, "entities": entities}
    async with make_client(lambda request: reply(page)) as ctx:
        columns = await ctx.client.list_image_columns(1001)
    assert columns == ImageColumns(
        ids=[1, 2, 3], names=["a.jpeg", "b.jpeg", "c.jpeg"], labels_counts=[3, 0, 0], tag_ids=[(4, 9), (), ()]
    )
    # only what the columns read
    assert ctx.recorder.bodies[0]["fields"] == ["id", "name", "labelsCount", "tags"]
    assert_matches_raw(columns, entities)


async def test_keys_left_out_are_neither_asked_for_nor_read(make_client) -> None:
    entities = [  # as a server that ignores `fields` would send them
        {"id": 1, "name": "a.jpeg", "labelsCount": 3, "tags": [{"tagId": 9}, {"tagId": 4}]},
        {"id": 2, "name": "b.jpeg", "labelsCount": 1, "tags": [{"tagId": 4}]},
    ]
    page = {"total": 2, "perPage": 500, "pagesCount": 1, "entities": entities}
    async with make_client(lambda request: reply(page)) as ctx:
        lean = await ctx.client.list_image_columns(1001, fields=())
        with_tags = await ctx.client.list_image_columns(1001, fields=("tags",))
        with pytest.raises(ValueError, match="not a column field: size"):
            await ctx.client.list_image_columns(1001, fields=("size",))
    assert [body["fields"] for body in ctx.recorder.bodies] == [["id", "name"], ["id", "name", "tags"]]
    assert (lean.ids, lean.names) == ([1, 2], ["a.jpeg", "b.jpeg"])
    assert (lean.labels_counts, lean.tag_ids) == ([0, 0], [(), ()])  # the empty values, not what was sent
    assert (with_tags.labels_counts, with_tags.tag_ids) == ([0, 0], [(4, 9), (4,)])


@pytest.mark.parametrize(
    ("entity", "where"),
    [
        # ids: refused by the listing's own walk (which follows ids), or by the columns
        ({"name": "a.jpeg"}, "id"),
        ({"id": "1", "name": "a.jpeg"}, "id"),
        ({"id": True, "name": "a.jpeg"}, "id"),
        ({"id": 1}, "0.name: not a string"),
        ({"id": 1, "name": "a.jpeg", "labelsCount": "2"}, "0.labelsCount: not an integer"),
        ({"id": 1, "name": "a.jpeg", "tags": {"tagId": 1}}, "0.tags: not a list"),
        ({"id": 1, "name": "a.jpeg", "tags": [{"value": "x"}]}, "0.tags.tagId: not an integer"),
        ("not an object", "0"),  # refused by the page envelope's own check, or by the columns
    ],
)
async def test_a_malformed_entity_is_a_response_format_error(make_client, entity: Any, where: str) -> None:
    page = {"total": 1, "perPage": 500, "pagesCount": 1, "entities": [entity]}
    async with make_client(lambda request: reply(page)) as ctx:
        with pytest.raises(ResponseFormatError) as caught:
            await ctx.client.list_image_columns(1001)
    assert where in str(caught.value) and caught.value.method == "images.list"
    assert "a.jpeg" not in str(caught.value)  # values are never echoed
