"""Changing what a project holds: `images.bulk.add` (copies by id), `images.bulk.remove`, `datasets.add`,
`datasets.archive` and `datasets.remove.permanently`.

The sandbox keeps no archive: archiving a dataset deletes it with its images and annotations, like a permanent
removal. A dataset that labeling jobs are built on is refused (remove the jobs first), so that removing a dataset
never erases a round's history.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from labelrounds.sandbox.errors import BadRequest, Conflict, Existing, Forbidden
from labelrounds.sandbox.handlers.images import _IMAGE_COLUMNS, image_entity
from labelrounds.sandbox.handlers.projects import get_dataset
from labelrounds.sandbox.jobs_core import recount
from labelrounds.sandbox.lookups import find_dataset, find_owned
from labelrounds.sandbox.models import (
    DatasetsAddBody,
    DatasetsRemovePermanentlyBody,
    IdBody,
    ImagesBulkAddBody,
    ImagesBulkRemoveBody,
)
from labelrounds.sandbox.permissions import JOB_MANAGERS, require_role
from labelrounds.sandbox.registry import Context, api_method, dump_user_json, success
from labelrounds.sandbox.store import allocate_ids
from labelrounds.sandbox.wire import dump_json

_EXTENSIONS_OF_MIME = {"image/jpeg": ("jpeg", "jpg")}


@api_method("images.bulk.add", ImagesBulkAddBody, write=True)
def add_images(ctx: Context, body: ImagesBulkAddBody) -> list[dict[str, Any]]:
    """Add images to a dataset as copies of existing images (`imageId`), without their annotations.

    Replies one ImageInfo per image, in request order. Names must be new in the dataset (a `Conflict`:
    400 `NONUNIQUE` listing the clashes) and keep the source's file extension. Each image's `meta` is accepted
    and not stored (sandbox images have an empty meta).
    """
    dataset = find_dataset(ctx, body.datasetId)
    require_role(dataset.role, JOB_MANAGERS, "add images")
    titles = [item.title for item in body.images]
    duplicates = sorted(title for title, count in Counter(titles).items() if count > 1)
    if duplicates:
        raise BadRequest(f"Image names repeat within the request: {duplicates[:10]}")
    clashes = ctx.db.execute(
        "SELECT name, id FROM images WHERE dataset_id = ? AND name IN (SELECT value FROM json_each(?))",
        (dataset.id, dump_json(titles)),
    ).fetchall()
    if clashes:
        raise Conflict(
            "image already exists",
            [
                Existing(
                    name, image_id, f"Image {name!r} already exists in dataset {dataset.id} (id {image_id})"
                )
                for name, image_id in sorted(clashes)
            ],
        )
    sources = []
    for index, item in enumerate(body.images):
        find_owned(ctx, "Image", item.imageId)
        source = ctx.db.execute(
            "SELECT hash, mime, size, width, height FROM images WHERE id = ?", (item.imageId,)
        ).fetchone()
        _check_extension(item.title, source[1], f"images[{index}]")
        sources.append(source)
    first_id = allocate_ids(ctx.db, len(body.images))
    new_ids = list(range(first_id, first_id + len(body.images)))
    ctx.db.executemany(
        "INSERT INTO images(id, dataset_id, project_id, name, hash, mime, size, width, height, created_by,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (new_id, dataset.id, dataset.project_id, title, *source, ctx.actor.id, ctx.now, ctx.now)
            for new_id, title, source in zip(new_ids, titles, sources, strict=True)
        ],
    )
    rows = ctx.db.execute(
        f"SELECT {_IMAGE_COLUMNS} FROM images i WHERE i.id BETWEEN ? AND ? ORDER BY i.id",  # noqa: S608 - fixed columns, ids bound
        (new_ids[0], new_ids[-1]),
    ).fetchall()
    return [image_entity(row) for row in rows]


def _check_extension(title: str, mime: str, where: str) -> None:
    """A copy keeps its source's file type: the title must end with the source's extension."""
    extensions = _EXTENSIONS_OF_MIME.get(mime, (mime.rpartition("/")[2],))
    _, dot, extension = title.rpartition(".")
    if not dot or extension.lower() not in extensions:
        raise BadRequest(f"{where}: title {title!r} must end with .{extensions[0]}, the source image's type")


@api_method("images.bulk.remove", ImagesBulkRemoveBody, write=True)
def remove_images(ctx: Context, body: ImagesBulkRemoveBody) -> dict[str, bool]:
    """Delete images with their annotations; labeling jobs that held them lose them (their counters follow).

    Ids of images that no longer exist are skipped, so repeating a removal is harmless.
    """
    ids = [
        image_id
        for image_id in sorted(set(body.imageIds))
        if ctx.db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone()
    ]
    for image_id in ids:
        require_role(find_owned(ctx, "Image", image_id).role, JOB_MANAGERS, "remove images")
    id_list = dump_json(ids)
    jobs = [
        row[0]
        for row in ctx.db.execute(
            "SELECT DISTINCT job_id FROM job_entities WHERE image_id IN (SELECT value FROM json_each(?))",
            (id_list,),
        )
    ]
    ctx.db.execute("DELETE FROM images WHERE id IN (SELECT value FROM json_each(?))", (id_list,))
    for job_id in jobs:
        recount(ctx.db, job_id)
        ctx.db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (ctx.now, job_id))
    return success()


@api_method("datasets.add", DatasetsAddBody, write=True)
def add_dataset(ctx: Context, body: DatasetsAddBody) -> dict[str, Any]:
    """Create a dataset in a project (under `parentId` when given); a name taken among its siblings → 400."""
    project = find_owned(ctx, "Project", body.projectId)
    require_role(project.role, JOB_MANAGERS, "create datasets")
    if body.parentId is not None:
        parent = find_dataset(ctx, body.parentId)
        if parent.project_id != body.projectId:
            raise BadRequest(f"Dataset {body.parentId} is not in project {body.projectId}")
    taken = ctx.db.execute(
        "SELECT id FROM datasets WHERE project_id = ? AND parent_id IS ? AND name = ?",
        (body.projectId, body.parentId, body.name),
    ).fetchone()
    if taken:
        message = f"Dataset {body.name!r} already exists in project {body.projectId} (id {taken[0]})"
        raise Conflict("dataset already exists", [Existing(body.name, taken[0], message)])
    custom_data = dump_user_json(body.customData or {}, "customData")
    dataset_id = allocate_ids(ctx.db, 1)
    ctx.db.execute(
        "INSERT INTO datasets(id, project_id, parent_id, name, description, custom_data, created_by, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            dataset_id,
            body.projectId,
            body.parentId,
            body.name,
            body.description,
            custom_data,
            ctx.actor.id,
            ctx.now,
            ctx.now,
        ),
    )
    return get_dataset(ctx, IdBody(id=dataset_id))


@api_method("datasets.archive", IdBody, write=True)
def archive_dataset(ctx: Context, body: IdBody) -> dict[str, bool]:
    """Remove a dataset (the sandbox keeps no archive) with its child datasets, images and annotations."""
    _remove_datasets(ctx, [body.id])
    return success()


@api_method("datasets.remove.permanently", DatasetsRemovePermanentlyBody, write=True)
def remove_datasets_permanently(ctx: Context, body: DatasetsRemovePermanentlyBody) -> dict[str, bool]:
    """Delete datasets (instance admin only); ids that no longer exist are skipped, so a retry is harmless."""
    if not ctx.actor.is_instance_admin:
        raise Forbidden("Only the instance admin may remove datasets permanently")
    ids = sorted({item.id for item in body.datasets})
    existing = [
        dataset_id
        for dataset_id in ids
        if ctx.db.execute("SELECT 1 FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
    ]
    _remove_datasets(ctx, existing)
    return success()


def _remove_datasets(ctx: Context, dataset_ids: list[int]) -> None:
    """Delete visible datasets the caller may edit, refusing any that a labeling job is built on."""
    for dataset_id in dataset_ids:
        require_role(find_dataset(ctx, dataset_id).role, JOB_MANAGERS, "remove datasets")
    if not dataset_ids:
        return
    tree = ctx.db.execute(
        "WITH RECURSIVE tree(id) AS (SELECT value FROM json_each(?)"
        " UNION SELECT d.id FROM datasets d JOIN tree t ON d.parent_id = t.id) SELECT id FROM tree",
        (dump_json(dataset_ids),),
    ).fetchall()
    tree_ids = dump_json([row[0] for row in tree])
    jobs = ctx.db.execute(
        "SELECT id, dataset_id FROM jobs WHERE dataset_id IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT 10",
        (tree_ids,),
    ).fetchall()
    if jobs:
        raise BadRequest(
            f"Labeling jobs {[job_id for job_id, _ in jobs]} are built on dataset {jobs[0][1]}; remove them first"
        )
    ctx.db.execute("DELETE FROM datasets WHERE id IN (SELECT value FROM json_each(?))", (tree_ids,))
