"""Changing what a project holds: image copies (`images.bulk.add`), `images.bulk.remove`, `datasets.add`,
`datasets.archive`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labelrounds.client.core import ClientCore
from labelrounds.client.endpoints.validation import require_ids, require_names, require_text
from labelrounds.client.errors import NotFoundError, ResponseFormatError
from labelrounds.client.models import DatasetInfo, ImageInfo
from labelrounds.client.parsing import parse_model, parse_models

IMAGE_BATCH_SIZE = 50
"""Images per `images.bulk.add`/`images.bulk.remove` request, as the SDK sends them."""


class DatasetContentEndpoints(ClientCore):
    """Typed methods that copy and remove images and create and remove datasets."""

    async def copy_images(
        self, dataset_id: int, image_ids: Sequence[int], names: Sequence[str]
    ) -> list[ImageInfo]:
        """Add copies of existing images to a dataset under new names (`images.bulk.add`, 50 per request);
        annotations are not copied (see `copy_annotations`).

        Not idempotent. Names are unique in a dataset, so after `AmbiguousWriteError` look the names up in the
        dataset (`list_images` with `Filter.in_("name", names)`) before trying again; a name that exists already
        is refused with an `InvalidRequestError` whose `details["errors"]` lists `{name, id}` of each clash.

        Returns:
            The new images, in the order of `names`.
        """
        titles = require_names("names", names)
        sources = list(image_ids)
        require_ids("image_ids", set(sources))
        if len(sources) != len(titles):
            raise ValueError(f"{len(sources)} image ids but {len(titles)} names")
        copies: list[ImageInfo] = []
        for start in range(0, len(titles), IMAGE_BATCH_SIZE):
            batch = [
                {"title": title, "imageId": image_id}
                for title, image_id in zip(
                    titles[start : start + IMAGE_BATCH_SIZE],
                    sources[start : start + IMAGE_BATCH_SIZE],
                    strict=True,
                )
            ]
            reply = await self.call(
                "images.bulk.add", {"datasetId": dataset_id, "images": batch}, idempotent=False
            )
            if not isinstance(reply, list) or len(reply) != len(batch):
                raise ResponseFormatError(
                    200,
                    "unexpected reply shape",
                    {"message": "expected one image per copy"},
                    "images.bulk.add",
                )
            copies += parse_models(ImageInfo, reply, "images.bulk.add")
        return copies

    async def remove_images(self, image_ids: Iterable[int]) -> None:
        """Delete images with their annotations (`images.bulk.remove`, 50 per request); images already gone are
        skipped by the server, so a retry is harmless."""
        ids = require_ids("image_ids", image_ids, allow_empty=True)
        for start in range(0, len(ids), IMAGE_BATCH_SIZE):
            await self._write("images.bulk.remove", {"imageIds": ids[start : start + IMAGE_BATCH_SIZE]})

    async def create_dataset(
        self,
        project_id: int,
        name: str,
        *,
        description: str = "",
        parent_id: int | None = None,
        custom_data: Mapping[str, Any] | None = None,
    ) -> DatasetInfo:
        """Create a dataset (`datasets.add`). Not idempotent: a taken name is refused (`InvalidRequestError`
        with `details["type"] == "NONUNIQUE"`), so after `AmbiguousWriteError` look the name up first."""
        body: dict[str, Any] = {
            "projectId": project_id,
            "name": require_text("name", name),
            "description": description,
            "parentId": parent_id,
        }
        if custom_data is not None:
            body["customData"] = dict(custom_data)
        return parse_model(
            DatasetInfo, await self.call("datasets.add", body, idempotent=False), "datasets.add"
        )

    async def remove_dataset(self, dataset_id: int, *, missing_ok: bool = True) -> None:
        """Remove a dataset with its images (`datasets.archive`, what the SDK's `dataset.remove` sends).

        With `missing_ok` a dataset that is already gone counts as removed, which makes retries harmless.
        """
        try:
            await self._write("datasets.archive", {"id": dataset_id})
        except NotFoundError:
            if not missing_ok:
                raise
