"""Image annotations: `annotations.info`, `annotations.bulk.info`, `annotations.list`, `annotations.bulk.add`,
`annotations.bulk.copy`.

One JSON document per image; an image nobody annotated has an empty annotation. Writes replace an image's
annotation whole, after every image of the batch has been checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson

from labelrounds.sandbox.annotation_format import (
    ImageTarget,
    MetaIndex,
    count_ids,
    empty_annotation,
    ids_needed,
    renumber_objects,
    stored_annotation,
    validate_annotation,
)
from labelrounds.sandbox.auth import Actor
from labelrounds.sandbox.errors import BadRequest, Forbidden, NotFound
from labelrounds.sandbox.lookups import DatasetRef, find_dataset, find_owned, scope_role
from labelrounds.sandbox.models import (
    AnnotationsBulkAddBody,
    AnnotationsBulkCopyBody,
    AnnotationsBulkInfoBody,
    AnnotationsInfoBody,
    AnnotationsListBody,
)
from labelrounds.sandbox.permissions import JOB_MANAGERS, Role
from labelrounds.sandbox.querying import Column, ListSpec, run_list
from labelrounds.sandbox.registry import Context, api_method, success
from labelrounds.sandbox.store import allocate_ids
from labelrounds.sandbox.wire import dump_json, json_fragment

_INFO_COLUMNS = (
    "i.id, i.name, i.dataset_id, i.width, i.height, a.annotation,"
    " coalesce(a.created_at, i.created_at), coalesce(a.updated_at, i.updated_at)"
)
_INFO_SOURCE = "images i LEFT JOIN annotations a ON a.image_id = i.id"
_LIST_FIELDS = {
    "id": Column("i.id"),
    "imageId": Column("i.id"),
    "name": Column("i.name", text=True),
    "imageName": Column("i.name", text=True),
    "createdAt": Column("coalesce(a.created_at, i.created_at)", text=True),
    "updatedAt": Column("coalesce(a.updated_at, i.updated_at)", text=True),
}
_WRITABLE_JOB = (
    "(j.user_id = ? AND j.status IN ('pending', 'in_progress'))"
    " OR (j.reviewer_id = ? AND j.status = 'on_review')"
)


def annotation_info(row: tuple[Any, ...]) -> dict[str, Any]:
    """An AnnotationInfo object from a row of `_INFO_COLUMNS`."""
    image_id, name, dataset_id, width, height, annotation, created_at, updated_at = row
    return {
        "id": image_id,
        "imageId": image_id,
        "imageName": name,
        "datasetId": dataset_id,
        "annotation": json_fragment(annotation) if annotation else empty_annotation(width, height),
        "createdAt": created_at,
        "updatedAt": updated_at,
    }


@api_method("annotations.info", AnnotationsInfoBody)
def get_annotation(ctx: Context, body: AnnotationsInfoBody) -> dict[str, Any]:
    """One image's annotation."""
    find_owned(ctx, "Image", body.imageId)
    row = ctx.db.execute(
        f"SELECT {_INFO_COLUMNS} FROM {_INFO_SOURCE} WHERE i.id = ?",  # noqa: S608 - fixed columns, id bound
        (body.imageId,),
    ).fetchone()
    return annotation_info(row)


@api_method("annotations.bulk.info", AnnotationsBulkInfoBody)
def get_annotations(ctx: Context, body: AnnotationsBulkInfoBody) -> list[dict[str, Any]]:
    """The annotations of some images of a dataset, as a bare list in the order asked (every id must exist)."""
    find_dataset(ctx, body.datasetId)
    _refuse_duplicates(body.imageIds, "imageIds")
    rows = ctx.db.execute(
        f"SELECT {_INFO_COLUMNS} FROM {_INFO_SOURCE}"  # noqa: S608 - fixed columns, ids bound
        " WHERE i.dataset_id = ? AND i.id IN (SELECT value FROM json_each(?))",
        (body.datasetId, dump_json(body.imageIds)),
    ).fetchall()
    by_id = {row[0]: row for row in rows}
    _refuse_missing(body.imageIds, by_id, body.datasetId)
    return [annotation_info(by_id[image_id]) for image_id in body.imageIds]


@api_method("annotations.list", AnnotationsListBody)
def list_annotations(ctx: Context, body: AnnotationsListBody) -> dict[str, Any]:
    """The annotations of a dataset's images, by image id."""
    scope_role(ctx, "Dataset", body.datasetId)
    return run_list(
        ctx.db,
        spec=ListSpec(_LIST_FIELDS, ctx.page_sizes.other),
        body=body,
        select=_INFO_COLUMNS,
        source=_INFO_SOURCE,
        scope=["i.dataset_id = ?"],
        scope_params=[body.datasetId],
        to_entity=annotation_info,
    )


@api_method("annotations.bulk.add", AnnotationsBulkAddBody, write=True)
def add_annotations(ctx: Context, body: AnnotationsBulkAddBody) -> dict[str, bool]:
    """Replace the annotations of some images of a dataset; every image is checked before anything is written.

    Team admins, managers and developers may annotate any image of the team; others only the images of their own
    active jobs (as labeler of a pending or in-progress job, as reviewer of a job on review).
    """
    dataset = find_dataset(ctx, body.datasetId)
    image_ids = [item.imageId for item in body.annotations]
    _refuse_duplicates(image_ids, "annotations[].imageId")
    images = _dataset_images(ctx, dataset.id, image_ids)
    require_annotation_rights(ctx, dataset, image_ids)
    meta = MetaIndex.load(ctx.db, dataset.project_id)
    for index, item in enumerate(body.annotations):
        validate_annotation(
            item.annotation,
            meta,
            images[item.imageId],
            check_bounds=not body.skipBoundsValidation,
            where=f"annotations[{index}] (image {item.imageId})",
        )
    next_id = allocate_ids(ctx.db, max(1, sum(ids_needed(item.annotation) for item in body.annotations)))
    for item in body.annotations:
        document, objects = stored_annotation(
            item.annotation, meta, images[item.imageId], login=ctx.actor.login, now=ctx.now, ids=next_id
        )
        next_id += ids_needed(item.annotation)
        _store(ctx, item.imageId, document, objects, created_at=ctx.now, updated_at=ctx.now)
    return success()


@api_method("annotations.bulk.copy", AnnotationsBulkCopyBody, write=True)
def copy_annotations(ctx: Context, body: AnnotationsBulkCopyBody) -> dict[str, bool]:
    """Copy each source image's annotation onto the destination image at the same index (same project only)."""
    if len(body.srcImageIds) != len(body.destImageIds):
        raise BadRequest("srcImageIds and destImageIds must have the same length")
    _refuse_duplicates(body.destImageIds, "destImageIds")
    sources = {row[0]: row for row in _image_rows(ctx, body.srcImageIds, "srcImageIds")}
    targets = {row[0]: row for row in _image_rows(ctx, body.destImageIds, "destImageIds")}
    for source_id, target_id in zip(body.srcImageIds, body.destImageIds, strict=True):
        if sources[source_id][2] != targets[target_id][2]:
            raise BadRequest(f"Image {source_id} and image {target_id} are in different projects")
    for dataset_id in sorted({row[1] for row in targets.values()}):
        dataset = find_dataset(ctx, dataset_id)
        in_dataset = [image_id for image_id, row in targets.items() if row[1] == dataset_id]
        require_annotation_rights(ctx, dataset, in_dataset)
    for source_id, target_id in zip(body.srcImageIds, body.destImageIds, strict=True):
        copy_annotation(ctx, source_id, target_id, preserve_dates=body.preserveSourceDate)
    return success()


def copy_annotation(ctx: Context, source_id: int, target_id: int, *, preserve_dates: bool) -> None:
    """Give `target_id` a copy of `source_id`'s annotation: new object and tag ids, the same logins and dates."""
    row = ctx.db.execute(
        "SELECT annotation, objects_count, created_at, updated_at FROM annotations WHERE image_id = ?",
        (source_id,),
    ).fetchone()
    if row is None:
        ctx.db.execute("DELETE FROM annotations WHERE image_id = ?", (target_id,))
        return
    document, objects, created_at, updated_at = row
    if not preserve_dates:
        created_at = updated_at = ctx.now
    parsed = orjson.loads(document)
    renumber_objects(parsed, allocate_ids(ctx.db, max(1, count_ids(parsed))))
    _store(
        ctx, target_id, orjson.dumps(parsed).decode(), objects, created_at=created_at, updated_at=updated_at
    )


def require_annotation_rights(ctx: Context, dataset: DatasetRef, image_ids: Iterable[int]) -> None:
    """403 unless the caller may write the annotations of these images of a visible dataset."""
    if dataset.role in JOB_MANAGERS:
        return
    if dataset.role is Role.VIEWER:
        raise Forbidden("Role 'viewer' may not write annotations")
    wanted = list(image_ids)
    allowed = _images_in_own_active_jobs(ctx.db, ctx.actor, wanted)
    refused = [image_id for image_id in wanted if image_id not in allowed]
    if refused:
        raise Forbidden(f"Images {refused[:10]} are not in one of your active labeling jobs")


def _images_in_own_active_jobs(db: Any, actor: Actor, image_ids: list[int]) -> set[int]:
    rows = db.execute(
        "SELECT DISTINCT je.image_id FROM job_entities je JOIN jobs j ON j.id = je.job_id"  # noqa: S608 - fixed SQL, values bound
        f" WHERE j.disabled = 0 AND ({_WRITABLE_JOB}) AND je.image_id IN (SELECT value FROM json_each(?))",
        (actor.id, actor.id, dump_json(image_ids)),
    ).fetchall()
    return {row[0] for row in rows}


def _dataset_images(ctx: Context, dataset_id: int, image_ids: list[int]) -> dict[int, ImageTarget]:
    """The images (by id) of a dataset; 404 naming those that are not in it."""
    rows = ctx.db.execute(
        "SELECT id, width, height FROM images WHERE dataset_id = ? AND id IN (SELECT value FROM json_each(?))",
        (dataset_id, dump_json(image_ids)),
    ).fetchall()
    found = {image_id: ImageTarget(image_id, width, height) for image_id, width, height in rows}
    _refuse_missing(image_ids, found, dataset_id)
    return found


def _image_rows(ctx: Context, image_ids: list[int], what: str) -> list[tuple[int, int, int]]:
    """`(id, dataset_id, project_id)` of visible images; 404 naming the first unknown or hidden one."""
    for image_id in image_ids:
        find_owned(ctx, "Image", image_id)
    rows = ctx.db.execute(
        "SELECT id, dataset_id, project_id FROM images WHERE id IN (SELECT value FROM json_each(?))",
        (dump_json(image_ids),),
    ).fetchall()
    if len(rows) != len(set(image_ids)):
        raise NotFound(f"Some of {what} do not exist")
    return rows


def _store(
    ctx: Context, image_id: int, document: str, objects: int, *, created_at: str, updated_at: str
) -> None:
    ctx.db.execute(
        "INSERT INTO annotations(image_id, annotation, objects_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(image_id) DO UPDATE SET annotation = excluded.annotation,"
        " objects_count = excluded.objects_count, updated_at = excluded.updated_at",
        (image_id, document, objects, created_at, updated_at),
    )


def _refuse_duplicates(ids: list[int], what: str) -> None:
    duplicates = sorted(value for value, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise BadRequest(f"{what} has duplicates: {duplicates[:10]}")


def _refuse_missing(image_ids: list[int], found: dict[int, Any], dataset_id: int) -> None:
    missing = [image_id for image_id in image_ids if image_id not in found]
    if missing:
        raise NotFound(f"Images {missing[:10]} are not in dataset {dataset_id}")
