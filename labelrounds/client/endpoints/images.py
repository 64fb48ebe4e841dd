"""Images of a dataset: `images.list`, `images.info`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from labelrounds.client.core import ClientCore
from labelrounds.client.errors import ResponseFormatError
from labelrounds.client.filters import Filter, filters_to_wire
from labelrounds.client.models import ImageInfo

# The instance's own default page size for images.list (reference §2.2); smaller pages only cost more requests.
DEFAULT_IMAGE_PAGE_SIZE = 20_000
_LIST_METHOD = "images.list"
#: The keys `ImageColumns` reads; asked for with `fields` (the server's projection), so pages carry nothing else.
COLUMN_FIELDS: tuple[str, ...] = ("id", "name", "labelsCount", "tags")
#: The keys every listing into columns asks for; the others of COLUMN_FIELDS are optional.
REQUIRED_FIELDS: tuple[str, ...] = ("id", "name")


@dataclass
class ImageColumns:
    """A listing's images as parallel columns, one entry per image in listing order (no model per image).

    `fields` are the keys the listing asked for: a column whose key was not asked for holds its empty value
    (0 labels, no tags) for every image, without reading the entities for it.
    """

    ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    labels_counts: list[int] = field(default_factory=list)
    tag_ids: list[tuple[int, ...]] = field(default_factory=list)
    fields: tuple[str, ...] = COLUMN_FIELDS

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, items: list[Any], position: int) -> None:
        """Check and append a page of `images.list` entities, `position` being the first one's index in the listing.

        Each column is read with one comprehension and its types checked in one pass; a page that fails the
        check is read again item by item, for the error naming the first bad entity.

        Raises:
            ResponseFormatError: as `append`.
        """
        try:
            ids = [item["id"] for item in items]
            names = [item["name"] for item in items]
            # A key left out is neither decoded nor read: a page of 20,000 with these two took 3x the CPU.
            labels_counts = (
                [item.get("labelsCount") for item in items] if "labelsCount" in self.fields else []
            )
            tags = [item.get("tags") for item in items] if "tags" in self.fields else []
        except (KeyError, TypeError, AttributeError):
            ids = names = labels_counts = tags = []
        if (
            len(ids) != len(items)
            or not set(map(type, ids)) <= {int}
            or not set(map(type, names)) <= {str}
            or not set(map(type, labels_counts)) <= {int, type(None)}
        ):
            for offset, item in enumerate(items):
                self.append(item, position + offset)
            return
        self.ids += ids
        self.names += names
        if "labelsCount" in self.fields:
            self.labels_counts += [count or 0 for count in labels_counts]
        else:
            self.labels_counts += [0] * len(items)
        if "tags" in self.fields:
            self.tag_ids += [
                _tag_ids(tag, position + offset) if tag else () for offset, tag in enumerate(tags)
            ]
        else:
            self.tag_ids += [()] * len(items)

    def append(self, item: Any, position: int) -> None:
        """Check one `images.list` entity's few used keys and append them.

        Raises:
            ResponseFormatError: the entity is not an object, or `id`, `name`, `labelsCount` or a tag's `tagId`
                is missing or of the wrong type.
        """
        if not isinstance(item, dict):
            raise _shape_error(position, "<root>", "not an object")
        image_id, name = item.get("id"), item.get("name")
        labels_count = item.get("labelsCount") if "labelsCount" in self.fields else None
        if type(image_id) is not int:
            raise _shape_error(position, "id", "not an integer")
        if type(name) is not str:
            raise _shape_error(position, "name", "not a string")
        if labels_count is not None and type(labels_count) is not int:
            raise _shape_error(position, "labelsCount", "not an integer")
        self.ids.append(image_id)
        self.names.append(name)
        self.labels_counts.append(labels_count or 0)
        tags = item.get("tags") if "tags" in self.fields else None
        self.tag_ids.append(_tag_ids(tags, position) if tags else ())  # untagged: no call, a shared ()


class ImageEndpoints(ClientCore):
    """Typed methods over images."""

    def iter_images(
        self, dataset_id: int, filters: Iterable[Filter] = (), per_page: int = DEFAULT_IMAGE_PAGE_SIZE
    ) -> AsyncIterator[ImageInfo]:
        """Iterate over a dataset's images matching every filter, by id, one page at a time."""
        return self._iter_models(ImageInfo, _LIST_METHOD, _list_body(dataset_id, filters), per_page=per_page)

    async def list_images(
        self, dataset_id: int, filters: Iterable[Filter] = (), per_page: int = DEFAULT_IMAGE_PAGE_SIZE
    ) -> list[ImageInfo]:
        """All of a dataset's images matching every filter, by id (`images.list`, every page)."""
        return await self._list_models(
            ImageInfo, _LIST_METHOD, _list_body(dataset_id, filters), per_page=per_page
        )

    async def list_image_columns(
        self,
        dataset_id: int,
        filters: Iterable[Filter] = (),
        per_page: int = DEFAULT_IMAGE_PAGE_SIZE,
        fields: Iterable[str] = COLUMN_FIELDS,
    ) -> ImageColumns:
        """A dataset's images matching every filter, by id, as columns (every page of `images.list`).

        Only the keys the columns need are asked for (`fields`) and checked, so a large listing costs a fraction
        of the bytes and no model per image; use `list_images` for complete, typed images.

        Args:
            dataset_id: the dataset.
            filters: conditions every listed image meets.
            per_page: images per page.
            fields: the keys to ask for, of COLUMN_FIELDS; `id` and `name` always are. A column whose key is
                left out holds its empty value (see `ImageColumns`).

        Raises:
            ResponseFormatError: an entity lacks a used key or has a wrongly typed one.
            PaginationError: the pages do not add up to the announced total.
        """
        asked = tuple(dict.fromkeys([*REQUIRED_FIELDS, *fields]))
        unknown = set(asked) - set(COLUMN_FIELDS)
        if unknown:
            raise ValueError(f"not a column field: {', '.join(sorted(unknown))}")
        columns = ImageColumns(fields=asked)
        body = {**_list_body(dataset_id, filters), "fields": list(asked)}
        async for page in self.iter_page_batches(_LIST_METHOD, body, per_page=per_page):
            columns.extend(page, len(columns))
        return columns

    async def get_image(self, image_id: int) -> ImageInfo | None:
        """An image (`images.info`), or None."""
        return await self._get_or_none(ImageInfo, "images.info", {"id": image_id})


def _list_body(dataset_id: int, filters: Iterable[Filter]) -> dict[str, Any]:
    return {"datasetId": dataset_id, "filter": filters_to_wire(filters)}


def _tag_ids(tags: Any, position: int) -> tuple[int, ...]:
    """The distinct `tagId`s of an image's tags, sorted; `()` (shared, no allocation) for the usual untagged image."""
    if not tags:
        return ()
    if not isinstance(tags, list):
        raise _shape_error(position, "tags", "not a list")
    found = set()
    for tag in tags:
        tag_id = tag.get("tagId") if isinstance(tag, dict) else None
        if type(tag_id) is not int:
            raise _shape_error(position, "tags.tagId", "not an integer")
        found.add(tag_id)
    return tuple(sorted(found))


def _shape_error(position: int, key: str, problem: str) -> ResponseFormatError:
    """The error for a malformed listing entity (never echoing its values)."""
    return ResponseFormatError(
        200,
        f"unexpected reply shape for {_LIST_METHOD}",
        {"message": f"{position}.{key}: {problem}"},
        _LIST_METHOD,
    )
