"""The official SDK writes annotations built from `sly.Annotation` objects (rectangle, polygon, bitmap) and reads
them back every way it can; copies images with and without annotations, removes images, creates and removes
datasets. Every result is emitted for the pytest side, which holds the oracle.

Reads SERVER_ADDRESS, API_TOKEN (the admin's), PROJECT_ID and DATASET_ID through the SDK's getters, and from the
environment: ANNOTATION_SPEC (JSON: the objects to draw, in the SDK's pixel coordinates) and CLIENT_IMAGE_ID (an
image our client annotated before this script ran).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import requests
import supervisely as sly
from sdk_output import describe_http_error, emit, emit_outcome


def build_annotation(meta: sly.ProjectMeta, spec: dict[str, Any]) -> sly.Annotation:
    """The spec's objects as SDK geometries: a `box` rectangle, a `leaf` polygon and a tagged `lemon` bitmap."""
    box, leaf, lemon = spec["rectangle"], spec["polygon"], spec["bitmap"]
    rows = [[cell == "#" for cell in row] for row in lemon["rows"]]
    labels = [
        sly.Label(
            sly.Rectangle(box["top"], box["left"], box["bottom"], box["right"]), meta.get_obj_class("box")
        ),
        sly.Label(
            sly.Polygon([sly.PointLocation(y, x) for x, y in leaf["exterior"]]), meta.get_obj_class("leaf")
        ),
        sly.Label(
            sly.Bitmap(
                np.array(rows, dtype=bool), origin=sly.PointLocation(lemon["origin"][1], lemon["origin"][0])
            ),
            meta.get_obj_class("lemon"),
            tags=sly.TagCollection([sly.Tag(meta.get_tag_meta("size"), lemon["size"])]),
        ),
    ]
    return sly.Annotation(img_size=(spec["height"], spec["width"]), labels=labels)


def pixel_json(ann_json: dict[str, Any], meta: sly.ProjectMeta) -> dict[str, Any]:
    """An annotation as the SDK parses and writes it again (pixel coordinates, SDK key order)."""
    return sly.Annotation.from_json(ann_json, meta).to_json()


def write_and_read(
    api: sly.Api, meta: sly.ProjectMeta, dataset_id: int, image_ids: list[int], spec: dict
) -> None:
    """Every upload flavour, then every download flavour."""
    ann = build_annotation(meta, spec)
    api.annotation.upload_ann(image_ids[0], ann)
    api.annotation.upload_anns([image_ids[1], image_ids[2]], [ann, ann.clone(labels=ann.labels[:1])])
    api.annotation.upload_json(image_ids[3], ann.to_json())
    api.annotation.upload_jsons([image_ids[4]], [sly.Annotation((spec["height"], spec["width"])).to_json()])
    one = api.annotation.download(image_ids[0])
    emit(
        "download",
        {
            "image_id": one.image_id,
            "image_name": one.image_name,
            "dataset_id": one.dataset_id,
            "annotation": pixel_json(one.annotation, meta),
        },
    )
    batch = api.annotation.download_batch(dataset_id, list(reversed(image_ids[:5])))
    emit(
        "download_batch",
        [{"image_id": info.image_id, "annotation": pixel_json(info.annotation, meta)} for info in batch],
    )
    listed = api.annotation.get_list(dataset_id)
    emit("get_list", [{"image_id": info.image_id, "annotation": info.annotation} for info in listed])
    emit_outcome(
        "upload.unknown_class",
        lambda: api.annotation.upload_json(
            image_ids[4],
            {**ann.to_json(), "objects": [{**ann.to_json()["objects"][0], "classTitle": "plum"}]},
        ),
    )


def copy_and_remove(api: sly.Api, project_id: int, dataset_id: int, image_ids: list[int]) -> None:
    """Copies with annotations (client-side and server-side), by id, removals, then dataset removal."""
    copies = api.dataset.create(project_id, "sdk copies")
    emit("dataset.created", copies)
    emit_outcome("dataset.duplicate", lambda: api.dataset.create(project_id, "sdk copies"))
    renamed = api.dataset.create(project_id, "sdk copies", change_name_if_conflict=True)
    emit("dataset.renamed", renamed.name)
    copied = api.image.copy_batch(copies.id, image_ids[:2], with_annotations=True)
    emit("copy_batch", [{"id": info.id, "name": info.name, "dataset_id": info.dataset_id} for info in copied])
    emit("copy_batch.annotations", [api.annotation.download(info.id).annotation for info in copied])
    sources = api.image.get_info_by_id_batch(image_ids[2:4])
    optimized = api.image.copy_batch_optimized(dataset_id, sources, renamed.id, with_annotations=True)
    emit("copy_batch_optimized", [{"id": info.id, "name": info.name} for info in optimized])
    emit(
        "copy_batch_optimized.annotations",
        [api.annotation.download(info.id).annotation for info in optimized],
    )
    by_id = api.image.upload_ids(renamed.id, ["by_id_a.jpeg", "by_id_b.jpeg"], image_ids[4:6])
    emit("upload_ids", [{"id": info.id, "name": info.name, "hash": info.hash} for info in by_id])
    try:
        api.image.upload_ids(renamed.id, ["by_id_a.jpeg"], image_ids[:1])
    except requests.HTTPError as error:
        emit("upload_ids.taken_name", describe_http_error(error))
    else:
        emit("upload_ids.taken_name", "accepted")
    api.image.remove(copied[0].id)
    api.image.remove_batch([info.id for info in by_id])
    emit(
        "after_removal",
        {
            "copies": [info.name for info in api.image.get_list(copies.id)],
            "renamed": sorted(info.name for info in api.image.get_list(renamed.id)),
        },
    )
    api.dataset.remove(copies.id)
    extra = [api.dataset.create(project_id, f"sdk temp {index}") for index in range(2)]
    api.dataset.remove_batch([info.id for info in extra])
    emit("datasets.left", sorted(info.name for info in api.dataset.get_list(project_id)))


def read_client_written(api: sly.Api, meta: sly.ProjectMeta, image_id: int) -> None:
    """What our client wrote, as the SDK downloads and parses it."""
    info = api.annotation.download(image_id)
    emit("client_written", pixel_json(info.annotation, meta))


def main() -> None:
    api = sly.Api.from_env()
    emit("sdk.version", sly.__version__)
    project_id, dataset_id = sly.env.project_id(), sly.env.dataset_id()
    spec = json.loads(os.environ["ANNOTATION_SPEC"])
    meta = sly.ProjectMeta.from_json(api.project.get_meta(project_id))
    image_ids = [info.id for info in api.image.get_list(dataset_id)]
    read_client_written(api, meta, int(os.environ["CLIENT_IMAGE_ID"]))
    write_and_read(api, meta, dataset_id, image_ids, spec)
    copy_and_remove(api, project_id, dataset_id, image_ids)


if __name__ == "__main__":
    main()
