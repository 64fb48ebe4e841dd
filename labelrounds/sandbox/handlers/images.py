"""`images.list` and `images.info`."""

from __future__ import annotations

from typing import Any

from labelrounds.sandbox.errors import BadRequest
from labelrounds.sandbox.lookups import find_owned, scope_role
from labelrounds.sandbox.models import IdBody, ImagesListBody
from labelrounds.sandbox.querying import Column, Fixed, ListSpec, Projection, run_list
from labelrounds.sandbox.registry import Context, api_method

_LABELS_COUNT = "coalesce((SELECT a.objects_count FROM annotations a WHERE a.image_id = i.id), 0)"
_IMAGE_COLUMNS = (
    "i.id, i.name, i.hash, i.mime, i.size, i.width, i.height, i.dataset_id, i.project_id, i.created_by,"
    f" i.created_at, i.updated_at, {_LABELS_COUNT}"
)
_IMAGE_FIELDS = {
    "id": Column("i.id"),
    "name": Column("i.name", text=True),
    "hash": Column("i.hash", text=True),
    "mime": Column("i.mime", text=True),
    "size": Column("i.size"),
    "width": Column("i.width"),
    "height": Column("i.height"),
    "datasetId": Column("i.dataset_id"),
    "projectId": Column("i.project_id"),
    "createdBy": Column("i.created_by"),
    "createdAt": Column("i.created_at", text=True),
    "updatedAt": Column("i.updated_at", text=True),
}


#: The keys of `image_entity`, in its order: `images.list` with `fields` selects only the kept keys' columns.
_IMAGE_PROJECTION = Projection(
    (
        ("id", "i.id"),
        ("name", "i.name"),
        ("link", Fixed(None)),
        ("hash", "i.hash"),
        ("mime", "i.mime"),
        ("ext", None),
        ("size", "i.size"),
        ("width", "i.width"),
        ("height", "i.height"),
        ("labelsCount", _LABELS_COUNT),
        ("datasetId", "i.dataset_id"),
        ("projectId", "i.project_id"),
        ("createdAt", "i.created_at"),
        ("updatedAt", "i.updated_at"),
        ("meta", Fixed({})),
        ("pathOriginal", None),
        ("fullStorageUrl", Fixed(None)),
        ("tags", Fixed([])),
        ("createdBy", "i.created_by"),
        ("description", Fixed("")),
    )
)


def image_entity(row: tuple[Any, ...]) -> dict[str, Any]:
    """An ImageInfo object; `mime` always matches the file name's extension, which the SDK relies on."""
    (
        image_id,
        name,
        image_hash,
        mime,
        size,
        width,
        height,
        dataset_id,
        project_id,
        created_by,
        created_at,
        updated_at,
        labels_count,
    ) = row
    extension = mime.rpartition("/")[2]
    return {
        "id": image_id,
        "name": name,
        "link": None,
        "hash": image_hash,
        "mime": mime,
        "ext": extension,
        "size": size,
        "width": width,
        "height": height,
        "labelsCount": labels_count,
        "datasetId": dataset_id,
        "projectId": project_id,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "meta": {},
        "pathOriginal": f"/sandbox/images/{image_id}.{extension}",
        "fullStorageUrl": None,
        "tags": [],
        "createdBy": created_by,
        "description": "",
    }


@api_method("images.list", ImagesListBody)
def list_images(ctx: Context, body: ImagesListBody) -> dict[str, Any]:
    """The images of a dataset (`datasetId`) or a whole project (`projectId`), id ascending by default.

    Sandbox images carry no tags (`labelsCount` counts their annotation's objects); the SDK's typed `filters`
    are accepted and ignored.
    """
    if body.datasetId is not None and body.projectId is None:
        scope_role(ctx, "Dataset", body.datasetId)
        scope, params = ["i.dataset_id = ?"], [body.datasetId]
    elif body.projectId is not None and body.datasetId is None:
        scope_role(ctx, "Project", body.projectId)
        scope, params = ["i.project_id = ?"], [body.projectId]
    else:
        raise BadRequest("Give exactly one of datasetId and projectId")
    return run_list(
        ctx.db,
        spec=ListSpec(_IMAGE_FIELDS, ctx.page_sizes.images),
        body=body,
        select=_IMAGE_COLUMNS,
        source="images i",
        scope=scope,
        scope_params=params,
        to_entity=image_entity,
        projection=_IMAGE_PROJECTION,
    )


@api_method("images.info", IdBody)
def get_image(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One image."""
    find_owned(ctx, "Image", body.id)
    row = ctx.db.execute(f"SELECT {_IMAGE_COLUMNS} FROM images i WHERE i.id = ?", (body.id,)).fetchone()  # noqa: S608 - fixed column list, id bound
    return image_entity(row)
