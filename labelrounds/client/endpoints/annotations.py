"""Image annotations: `annotations.info`, `annotations.bulk.info`, `annotations.list`, `annotations.bulk.add`,
`annotations.bulk.copy`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labelrounds.client.core import ClientCore
from labelrounds.client.endpoints.validation import require_ids
from labelrounds.client.errors import ResponseFormatError
from labelrounds.client.filters import Filter, filters_to_wire
from labelrounds.client.models import Annotation, AnnotationInfo
from labelrounds.client.pagination import DEFAULT_PER_PAGE
from labelrounds.client.parsing import parse_models

ANNOTATION_BATCH_SIZE = 50
"""Images per `annotations.bulk.info`/`annotations.bulk.add` request, as the SDK sends them."""


class AnnotationEndpoints(ClientCore):
    """Typed methods over image annotations (wire coordinates, see `models.annotations`)."""

    async def get_annotation(self, image_id: int) -> AnnotationInfo | None:
        """One image's annotation (`annotations.info`), or None for an unknown image."""
        return await self._get_or_none(AnnotationInfo, "annotations.info", {"imageId": image_id})

    async def get_annotations(self, dataset_id: int, image_ids: Iterable[int]) -> list[AnnotationInfo]:
        """The annotations of some images of a dataset, in the order of `image_ids` (`annotations.bulk.info`).

        Raises:
            ResponseFormatError: the reply lacks one of the requested images.
        """
        ids = require_ids("image_ids", image_ids, allow_empty=True)
        found: dict[int, AnnotationInfo] = {}
        for start in range(0, len(ids), ANNOTATION_BATCH_SIZE):
            batch = ids[start : start + ANNOTATION_BATCH_SIZE]
            reply = await self._read("annotations.bulk.info", {"datasetId": dataset_id, "imageIds": batch})
            if not isinstance(reply, list):
                raise _format_error("annotations.bulk.info", "expected a list of annotations")
            found.update(
                (info.image_id, info) for info in parse_models(AnnotationInfo, reply, "annotations.bulk.info")
            )
        missing = [image_id for image_id in ids if image_id not in found]
        if missing:
            raise _format_error("annotations.bulk.info", f"no annotation for images {missing[:10]}")
        return [found[image_id] for image_id in ids]

    async def list_annotations(
        self, dataset_id: int, filters: Iterable[Filter] = (), *, per_page: int = DEFAULT_PER_PAGE
    ) -> list[AnnotationInfo]:
        """The annotations of every image of a dataset matching the filters, by image id (`annotations.list`)."""
        body = {"datasetId": dataset_id, "filter": filters_to_wire(filters)}
        return await self._list_models(AnnotationInfo, "annotations.list", body, per_page=per_page)

    async def upload_annotations(
        self,
        dataset_id: int,
        annotations: Mapping[int, Annotation] | Sequence[tuple[int, Annotation]],
        *,
        skip_bounds_validation: bool = False,
    ) -> None:
        """Replace the annotations of images of a dataset (`annotations.bulk.add`, 50 images per request).

        Idempotent: an image's annotation is replaced whole, so a retried batch leaves the same labels (with new
        object ids). Each batch is checked by the server before anything of it is written.

        Args:
            dataset_id: the dataset holding every image.
            annotations: image id → annotation (a mapping or pairs; each image once).
            skip_bounds_validation: let coordinates outside the image through.
        """
        pairs = list(annotations.items()) if isinstance(annotations, Mapping) else list(annotations)
        require_ids("image ids", [image_id for image_id, _ in pairs], allow_empty=True)
        for image_id, annotation in pairs:
            if not isinstance(annotation, Annotation):
                raise TypeError(f"the annotation of image {image_id} must be an Annotation")
        for start in range(0, len(pairs), ANNOTATION_BATCH_SIZE):
            batch = pairs[start : start + ANNOTATION_BATCH_SIZE]
            body: dict[str, Any] = {
                "datasetId": dataset_id,
                "annotations": [
                    {"imageId": image_id, "annotation": annotation.to_wire()}
                    for image_id, annotation in batch
                ],
                "skipBoundsValidation": skip_bounds_validation,
            }
            await self._write("annotations.bulk.add", body)

    async def copy_annotations(
        self, source_ids: Sequence[int], target_ids: Sequence[int], *, preserve_dates: bool = True
    ) -> None:
        """Give each target image a copy of the source image at the same index (`annotations.bulk.copy`).

        Idempotent (each target's annotation is replaced whole). Sources and targets are in the same project.
        """
        sources = require_ids("source_ids", source_ids, allow_empty=True)
        targets = require_ids("target_ids", target_ids, allow_empty=True)
        if len(sources) != len(targets):
            raise ValueError(f"{len(sources)} source ids but {len(targets)} target ids")
        for start in range(0, len(sources), ANNOTATION_BATCH_SIZE):
            body = {
                "srcImageIds": sources[start : start + ANNOTATION_BATCH_SIZE],
                "destImageIds": targets[start : start + ANNOTATION_BATCH_SIZE],
                "preserveSourceDate": preserve_dates,
            }
            await self._write("annotations.bulk.copy", body)


def _format_error(method: str, message: str) -> ResponseFormatError:
    return ResponseFormatError(200, "unexpected reply shape", {"message": message}, method)
