"""Images of a dataset: `images.list`, `images.info`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from labelrounds.client.core import ClientCore
from labelrounds.client.filters import Filter, filters_to_wire
from labelrounds.client.models import ImageInfo

# The instance's own default page size for images.list (reference §2.2); smaller pages only cost more requests.
DEFAULT_IMAGE_PAGE_SIZE = 20_000


class ImageEndpoints(ClientCore):
    """Typed methods over images."""

    def iter_images(
        self, dataset_id: int, filters: Iterable[Filter] = (), per_page: int = DEFAULT_IMAGE_PAGE_SIZE
    ) -> AsyncIterator[ImageInfo]:
        """Iterate over a dataset's images matching every filter, by id, one page at a time."""
        return self._iter_models(ImageInfo, "images.list", _list_body(dataset_id, filters), per_page=per_page)

    async def list_images(
        self, dataset_id: int, filters: Iterable[Filter] = (), per_page: int = DEFAULT_IMAGE_PAGE_SIZE
    ) -> list[ImageInfo]:
        """All of a dataset's images matching every filter, by id (`images.list`, every page)."""
        return await self._list_models(
            ImageInfo, "images.list", _list_body(dataset_id, filters), per_page=per_page
        )

    async def get_image(self, image_id: int) -> ImageInfo | None:
        """An image (`images.info`), or None."""
        return await self._get_or_none(ImageInfo, "images.info", {"id": image_id})


def _list_body(dataset_id: int, filters: Iterable[Filter]) -> dict[str, Any]:
    return {"datasetId": dataset_id, "filter": filters_to_wire(filters)}
