"""Project methods: `projects.*` (info, list, meta, meta.update, settings.update) and `datasets.*`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from labelrounds.sandbox.errors import BadRequest
from labelrounds.sandbox.lookups import find_owned, scope_role
from labelrounds.sandbox.models import (
    DatasetsListBody,
    IdBody,
    ObjectClassBody,
    ProjectsListBody,
    ProjectsMetaUpdateBody,
    ProjectsSettingsUpdateBody,
    TagMetaBody,
)
from labelrounds.sandbox.permissions import META_EDITORS, require_role
from labelrounds.sandbox.querying import Column, ListSpec, run_list
from labelrounds.sandbox.registry import Context, api_method, dump_user_json, success
from labelrounds.sandbox.store import allocate_id
from labelrounds.sandbox.wire import json_fragment

_PROJECT_COLUMNS = (
    "p.id, p.name, p.description, p.workspace_id, p.team_id, p.project_type, p.settings, p.custom_data,"
    " p.created_by, p.created_at, p.updated_at,"
    " (SELECT count(*) FROM images i WHERE i.project_id = p.id),"
    " (SELECT coalesce(sum(i.size), 0) FROM images i WHERE i.project_id = p.id),"
    " (SELECT count(*) FROM datasets d WHERE d.project_id = p.id)"
)
_PROJECT_FIELDS = {
    "id": Column("p.id"),
    "name": Column("p.name", text=True),
    "workspaceId": Column("p.workspace_id"),
    "teamId": Column("p.team_id"),
    "type": Column("p.project_type", text=True),
    "createdAt": Column("p.created_at", text=True),
    "updatedAt": Column("p.updated_at", text=True),
}
_DATASET_COLUMNS = (
    "d.id, d.name, d.description, d.project_id, p.team_id, p.workspace_id, d.parent_id, d.custom_data,"
    " d.created_by, d.created_at, d.updated_at, (SELECT count(*) FROM images i WHERE i.dataset_id = d.id),"
    " (SELECT coalesce(sum(i.size), 0) FROM images i WHERE i.dataset_id = d.id)"
)
_DATASET_FIELDS = {
    "id": Column("d.id"),
    "name": Column("d.name", text=True),
    "projectId": Column("d.project_id"),
    "parentId": Column("d.parent_id"),
    "createdAt": Column("d.created_at", text=True),
    "updatedAt": Column("d.updated_at", text=True),
}


def _project_entity(row: tuple[Any, ...]) -> dict[str, Any]:
    """A ProjectInfo object."""
    (
        project_id,
        name,
        description,
        workspace_id,
        team_id,
        project_type,
        settings,
        custom_data,
        created_by,
        created_at,
        updated_at,
        images_count,
        images_size,
        datasets_count,
    ) = row
    return {
        "id": project_id,
        "name": name,
        "description": description,
        "size": str(images_size),
        "readme": "",
        "workspaceId": workspace_id,
        "teamId": team_id,
        "imagesCount": images_count,
        "itemsCount": images_count,
        "datasetsCount": datasets_count,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "type": project_type,
        "referenceImageUrl": None,
        "customData": json_fragment(custom_data),
        "settings": json_fragment(settings),
        "createdBy": created_by,
    }


def _dataset_entity(row: tuple[Any, ...]) -> dict[str, Any]:
    """A DatasetInfo object."""
    (
        dataset_id,
        name,
        description,
        project_id,
        team_id,
        workspace_id,
        parent_id,
        custom_data,
        created_by,
        created_at,
        updated_at,
        images_count,
        images_size,
    ) = row
    return {
        "id": dataset_id,
        "name": name,
        "description": description,
        "size": str(images_size),
        "projectId": project_id,
        "imagesCount": images_count,
        "itemsCount": images_count,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "referenceImageUrl": None,
        "teamId": team_id,
        "workspaceId": workspace_id,
        "parentId": parent_id,
        "customData": json_fragment(custom_data),
        "createdBy": created_by,
    }


@api_method("projects.list", ProjectsListBody)
def list_projects(ctx: Context, body: ProjectsListBody) -> dict[str, Any]:
    """The projects of a workspace (`workspaceId`) or of a whole team (`groupId`)."""
    if body.workspaceId is not None and body.groupId is None:
        scope_role(ctx, "Workspace", body.workspaceId)
        scope, params = ["p.workspace_id = ?"], [body.workspaceId]
    elif body.groupId is not None and body.workspaceId is None:
        scope_role(ctx, "Team", body.groupId)
        scope, params = ["p.team_id = ?"], [body.groupId]
    else:
        raise BadRequest("Give exactly one of workspaceId and groupId")
    return run_list(
        ctx.db,
        spec=ListSpec(_PROJECT_FIELDS, ctx.page_sizes.other),
        body=body,
        select=_PROJECT_COLUMNS,
        source="projects p",
        scope=scope,
        scope_params=params,
        to_entity=_project_entity,
    )


@api_method("projects.info", IdBody)
def get_project(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One project."""
    find_owned(ctx, "Project", body.id)
    row = ctx.db.execute(f"SELECT {_PROJECT_COLUMNS} FROM projects p WHERE p.id = ?", (body.id,)).fetchone()  # noqa: S608 - fixed column list, id bound
    return _project_entity(row)


def project_meta(ctx: Context, project_id: int) -> dict[str, Any]:
    """The stored meta `{classes, tags, projectType}`, each class and tag with its id."""
    classes = ctx.db.execute(
        "SELECT id, definition FROM object_classes WHERE project_id = ? ORDER BY position", (project_id,)
    ).fetchall()
    tags = ctx.db.execute(
        "SELECT id, definition FROM tag_metas WHERE project_id = ? ORDER BY position", (project_id,)
    ).fetchall()
    (project_type,) = ctx.db.execute(
        "SELECT project_type FROM projects WHERE id = ?", (project_id,)
    ).fetchone()
    return {
        "classes": [{**orjson.loads(definition), "id": class_id} for class_id, definition in classes],
        "tags": [{**orjson.loads(definition), "id": tag_id} for tag_id, definition in tags],
        "projectType": project_type,
    }


@api_method("projects.meta", IdBody)
def get_project_meta(ctx: Context, body: IdBody) -> dict[str, Any]:
    """A project's classes and tags."""
    find_owned(ctx, "Project", body.id)
    return project_meta(ctx, body.id)


def _check_unique(names: list[str], what: str) -> None:
    """400 when a name appears twice."""
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise BadRequest(f"Duplicate {what}: {', '.join(duplicates)}")


def _resolve_ids(
    ctx: Context,
    table: str,
    name_column: str,
    project_id: int,
    items: Sequence[ObjectClassBody | TagMetaBody],
    names: list[str],
    what: str,
) -> list[int | None]:
    """The stored id each item keeps (matched by id, else by name); None for a new item. Foreign ids → 400."""
    stored = ctx.db.execute(
        f"SELECT id, {name_column} FROM {table} WHERE project_id = ?",  # noqa: S608 - table/column are literals of the callers, id bound
        (project_id,),
    ).fetchall()
    ids_by_name = {name: item_id for item_id, name in stored}
    known_ids = set(ids_by_name.values())
    resolved: list[int | None] = []
    for item, name in zip(items, names, strict=True):
        if item.id is not None:
            if item.id not in known_ids:
                raise BadRequest(
                    f"{what} {name!r} has id {item.id}, which is not a {what} of project {project_id}"
                )
            resolved.append(item.id)
        else:
            resolved.append(ids_by_name.get(name))
    kept = [item_id for item_id in resolved if item_id is not None]
    if len(kept) != len(set(kept)):
        raise BadRequest(f"Two {what}s of the new meta refer to the same stored {what}")
    return resolved


def _replace_definitions(
    ctx: Context, table: str, name_column: str, project_id: int, rows: list[tuple[int | None, str, str]]
) -> None:
    """Store `(id or None, name, definition)` rows as the project's full list, in order, deleting the rest."""
    keep = [item_id for item_id, _, _ in rows if item_id is not None]
    ctx.db.execute(
        f"DELETE FROM {table} WHERE project_id = ? AND id NOT IN (SELECT value FROM json_each(?))",  # noqa: S608 - table is a literal of the callers, values bound
        (project_id, orjson.dumps(keep).decode()),
    )
    # Park kept rows on unique temporary names first, so that renames and swaps never collide.
    ctx.db.execute(f"UPDATE {table} SET {name_column} = char(0) || id WHERE project_id = ?", (project_id,))  # noqa: S608 - table/column are literals of the callers, id bound
    for position, (item_id, name, definition) in enumerate(rows):
        if item_id is None:
            item_id = allocate_id(ctx.db)
            ctx.db.execute(
                f"INSERT INTO {table}(id, project_id, {name_column}, position, definition)"  # noqa: S608 - table/column are literals of the callers, values bound
                " VALUES (?, ?, ?, ?, ?)",
                (item_id, project_id, name, position, definition),
            )
        else:
            ctx.db.execute(
                f"UPDATE {table} SET {name_column} = ?, position = ?, definition = ? WHERE id = ?",  # noqa: S608 - table/column are literals of the callers, values bound
                (name, position, definition, item_id),
            )


def _validate_tags(body: ProjectsMetaUpdateBody) -> None:
    """Tag definitions must be coherent: `values` for oneof_string only, classes that exist."""
    class_titles = {object_class.title for object_class in body.meta.classes}
    for tag in body.meta.tags:
        if tag.value_type == "oneof_string" and not tag.values:
            raise BadRequest(f"Tag {tag.name!r} is oneof_string and needs a non-empty 'values' list")
        if tag.value_type != "oneof_string" and tag.values:
            raise BadRequest(f"Tag {tag.name!r} is {tag.value_type} and cannot have 'values'")
        unknown = sorted(set(tag.classes) - class_titles)
        if unknown:
            raise BadRequest(f"Tag {tag.name!r} applies to unknown classes: {', '.join(unknown)}")


@api_method("projects.meta.update", ProjectsMetaUpdateBody, write=True)
def update_project_meta(ctx: Context, body: ProjectsMetaUpdateBody) -> dict[str, Any]:
    """Replace a project's meta; existing classes/tags keep their ids (matched by id or name)."""
    project = find_owned(ctx, "Project", body.id)
    require_role(project.role, META_EDITORS, "change the project meta")
    classes, tags = body.meta.classes, body.meta.tags
    class_titles = [object_class.title for object_class in classes]
    tag_names = [tag.name for tag in tags]
    _check_unique(class_titles, "class titles")
    _check_unique(tag_names, "tag names")
    _validate_tags(body)
    class_ids = _resolve_ids(ctx, "object_classes", "title", body.id, classes, class_titles, "class")
    tag_ids = _resolve_ids(ctx, "tag_metas", "name", body.id, tags, tag_names, "tag")
    class_rows = [
        (class_id, object_class.title, dump_user_json(object_class.model_dump(exclude={"id"}), "class"))
        for class_id, object_class in zip(class_ids, classes, strict=True)
    ]
    tag_rows = [
        (tag_id, tag.name, dump_user_json(tag.model_dump(exclude={"id"}, exclude_none=True), "tag"))
        for tag_id, tag in zip(tag_ids, tags, strict=True)
    ]
    _replace_definitions(ctx, "object_classes", "title", body.id, class_rows)
    _replace_definitions(ctx, "tag_metas", "name", body.id, tag_rows)
    if body.meta.projectType is not None:
        ctx.db.execute("UPDATE projects SET project_type = ? WHERE id = ?", (body.meta.projectType, body.id))
    ctx.db.execute("UPDATE projects SET updated_at = ? WHERE id = ?", (ctx.now, body.id))
    return project_meta(ctx, body.id)


@api_method("projects.settings.update", ProjectsSettingsUpdateBody, write=True)
def update_project_settings(ctx: Context, body: ProjectsSettingsUpdateBody) -> dict[str, bool]:
    """Replace a project's settings (stored and shown by `projects.info`, otherwise unused)."""
    project = find_owned(ctx, "Project", body.id)
    require_role(project.role, META_EDITORS, "change the project settings")
    ctx.db.execute(
        "UPDATE projects SET settings = ?, updated_at = ? WHERE id = ?",
        (dump_user_json(body.settings, "settings"), ctx.now, body.id),
    )
    return success()


@api_method("datasets.list", DatasetsListBody)
def list_datasets(ctx: Context, body: DatasetsListBody) -> dict[str, Any]:
    """A project's datasets, top-level only unless `recursive`."""
    scope_role(ctx, "Project", body.projectId)
    scope = ["d.project_id = ?"] if body.recursive else ["d.project_id = ?", "d.parent_id IS NULL"]
    return run_list(
        ctx.db,
        spec=ListSpec(_DATASET_FIELDS, ctx.page_sizes.other),
        body=body,
        select=_DATASET_COLUMNS,
        source="datasets d JOIN projects p ON p.id = d.project_id",
        scope=scope,
        scope_params=[body.projectId],
        to_entity=_dataset_entity,
    )


@api_method("datasets.info", IdBody)
def get_dataset(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One dataset."""
    find_owned(ctx, "Dataset", body.id)
    row = ctx.db.execute(
        f"SELECT {_DATASET_COLUMNS} FROM datasets d JOIN projects p ON p.id = d.project_id WHERE d.id = ?",  # noqa: S608 - fixed column list, id bound
        (body.id,),
    ).fetchone()
    return _dataset_entity(row)
