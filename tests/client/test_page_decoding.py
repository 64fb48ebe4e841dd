"""Listings decoded a page at a time: columns read by comprehensions agree with the item-by-item reading, and a
page that lost or repeated an image is refused (with mutants showing each check can fail)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from labelrounds.client import PaginationError, ResponseFormatError
from labelrounds.client.endpoints.images import ImageColumns

from .test_pagination import ListingServer, images


def varied_page(count: int, seed: int) -> list[dict[str, Any]]:
    """Entities as the API sends them: tags on some, `labelsCount` missing or null on others."""
    chooser = random.Random(seed)
    page = []
    for index in range(count):
        entity: dict[str, Any] = {"id": 500 + index, "name": f"img_{index}.png"}
        if chooser.random() < 0.7:
            entity["labelsCount"] = chooser.choice([None, 0, 3])
        if chooser.random() < 0.3:
            entity["tags"] = [{"tagId": chooser.choice([9, 4, 4])} for _ in range(chooser.randint(0, 3))]
        page.append(entity)
    return page


def item_by_item(page: list[dict[str, Any]], first_position: int = 0) -> ImageColumns:
    """The oracle: the per-entity reader (`append`), an implementation separate from the page reader."""
    columns = ImageColumns()
    for offset, entity in enumerate(page):
        columns.append(entity, first_position + offset)
    return columns


def test_a_page_read_at_once_equals_the_item_by_item_reading() -> None:
    page = varied_page(300, seed=5)
    columns = ImageColumns()
    columns.extend(page[:120], 0)
    columns.extend(page[120:], 120)
    assert columns == item_by_item(page)
    assert any(tags for tags in columns.tag_ids) and 0 in columns.labels_counts  # the page exercises both


def test_the_comparison_fails_on_a_dropped_or_repeated_image() -> None:
    page = varied_page(50, seed=6)
    dropped, repeated = ImageColumns(), ImageColumns()
    dropped.extend(page[:10] + page[11:], 0)
    repeated.extend([*page, page[3]], 0)
    for corrupted in (dropped, repeated):
        assert corrupted != item_by_item(page)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"id": "7", "name": "x.png"}, "id: not an integer"),
        ({"id": 7, "name": None}, "name: not a string"),
        ({"id": 7, "name": "x.png", "labelsCount": True}, "labelsCount: not an integer"),
        ({"name": "x.png"}, "id: not an integer"),
        ("not an object", "<root>: not an object"),
        ({"id": 7, "name": "x.png", "tags": [{"tagId": None}]}, "tags.tagId: not an integer"),
    ],
)
def test_a_bad_entity_in_a_page_is_named_by_its_position_in_the_listing(bad: Any, where: str) -> None:
    page: list[Any] = varied_page(20, seed=7)
    page[13] = bad
    columns = ImageColumns()
    columns.extend(page[:10], 0)
    with pytest.raises(ResponseFormatError, match=f"13.{where}"):  # the second page starts at position 10
        columns.extend(page[10:], 10)
    with pytest.raises(ResponseFormatError, match=f"113.{where}"):
        ImageColumns().extend(page, 100)


async def test_a_keyset_page_that_lost_an_image_is_refused(make_client) -> None:
    listing = images(25)
    server = ListingServer(listing)
    async with make_client(server).client as api:  # control: the honest server passes
        assert [image.id for image in await api.list_images(1, per_page=10)] == [item["id"] for item in listing]

    class ShortPage(ListingServer):
        def __call__(self, request: Any) -> Any:
            response = super().__call__(request)
            if self.requests == 1:  # the first page comes one image short while `total` still counts it
                body = response.json()
                body["entities"].pop(5)
                return type(response)(200, json=body)
            return response

    async with make_client(ShortPage(images(25))).client as api:
        with pytest.raises(PaginationError, match="page 1 holds 9 items, but 25 remain"):
            await api.list_image_columns(1, per_page=10)


async def test_a_keyset_page_that_repeats_an_image_is_refused(make_client) -> None:
    class RepeatingPage(ListingServer):
        def __call__(self, request: Any) -> Any:
            response = super().__call__(request)
            body = response.json()
            if self.requests == 2:
                body["entities"][4] = body["entities"][3]
            return type(response)(200, json=body)

    async with make_client(RepeatingPage(images(25))).client as api:
        with pytest.raises(PaginationError, match="id 1013 came after id 1013 at page 2"):
            await api.list_image_columns(1, per_page=10)
