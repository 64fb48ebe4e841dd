"""Labeling-job administration: `jobs.add/info/list/editInfo/stop/archive/bulk.remove/stats` and the sandbox's
`jobs.split`."""

from __future__ import annotations

from typing import Any

import orjson

from labelrounds.sandbox.errors import BadRequest, Forbidden
from labelrounds.sandbox.jobs_core import (
    JOB_COLUMNS,
    JOB_SOURCE,
    NewJobs,
    create_jobs,
    job_entity,
    log_activity,
    read_job,
    recount,
    require_workers,
    set_job_status,
)
from labelrounds.sandbox.lookups import JobRef, find_dataset, find_job, scope_role, visible_job
from labelrounds.sandbox.models import (
    IdBody,
    JobMetaBody,
    JobsAddBody,
    JobsBulkRemoveBody,
    JobsEditInfoBody,
    JobsListBody,
    JobsSplitBody,
)
from labelrounds.sandbox.permissions import JOB_MANAGERS, holds_role_anywhere, require_role
from labelrounds.sandbox.querying import Column, ListSpec, run_list
from labelrounds.sandbox.registry import Context, api_method, dump_user_json, success

_JOB_FIELDS = {
    "id": Column("j.id"),
    "name": Column("j.name", text=True),
    "status": Column("j.status", text=True),
    "createdBy": Column("j.created_by"),
    "userId": Column("j.user_id"),
    "reviewerId": Column("j.reviewer_id"),
    "teamId": Column("j.team_id"),
    "workspaceId": Column("j.workspace_id"),
    "projectId": Column("j.project_id"),
    "datasetId": Column("j.dataset_id"),
    "disabled": Column("j.disabled"),
    "priority": Column("j.priority"),
    "parentJobId": Column("j.parent_job_id"),
    "labelingQueueId": Column("(SELECT q.queue_id FROM labeling_queue_jobs q WHERE q.job_id = j.id)"),
    "labelingExamId": Column("NULL"),
    "createdAt": Column("j.created_at", text=True),
    "updatedAt": Column("j.updated_at", text=True),
    "startedAt": Column("j.started_at", text=True),
    "finishedAt": Column("j.finished_at", text=True),
    "annotationFinishedAt": Column("j.annotation_finished_at", text=True),
    "reviewFinishedAt": Column("j.review_finished_at", text=True),
}


def _names_to_ids(
    ctx: Context, table: str, name_column: str, project_id: int, names: list[str], what: str
) -> dict[str, int]:
    """Map class or tag names to their ids in the project meta; unknown names → 400 naming them."""
    rows = ctx.db.execute(
        f"SELECT {name_column}, id FROM {table} WHERE project_id = ?",  # noqa: S608 - table/column are literals of the callers, id bound
        (project_id,),
    ).fetchall()
    known = dict(rows)
    unknown = sorted({name for name in names if name not in known})
    if unknown:
        raise BadRequest(
            f"Unknown {what} in project {project_id}: {', '.join(unknown)} (add them to the project meta first)"
        )
    return {name: known[name] for name in names}


def job_meta(ctx: Context, project_id: int, meta: JobMetaBody) -> str:
    """The stored job meta: classes and tags resolved to `{id, name}`, the image list left out."""
    class_ids = _names_to_ids(ctx, "object_classes", "title", project_id, meta.classes, "classes")
    tag_names = [*meta.projectTags, *(tag.name for tag in meta.imageTags), *(meta.readOnlyTags or [])]
    tag_ids = _names_to_ids(ctx, "tag_metas", "name", project_id, tag_names, "tags")
    start, end = (meta.range.start, meta.range.end) if meta.range else (None, None)
    if start is not None and end is not None and start > end:
        raise BadRequest(f"meta.range: start {start} is after end {end}")
    stored = {
        **(meta.model_extra or {}),
        "classes": [{"id": class_ids[name], "name": name} for name in dict.fromkeys(meta.classes)],
        "projectTags": [{"id": tag_ids[name], "name": name} for name in dict.fromkeys(meta.projectTags)],
        "imageTags": [
            {"id": tag_ids[tag.name], "name": tag.name, "positive": tag.positive} for tag in meta.imageTags
        ],
        # The SDK sends 0 for "no limit"; a job shows that as null, like the real instance.
        "imageFiguresLimit": meta.imageFiguresLimit or None,
        "imageTagsLimit": meta.imageTagsLimit or None,
        "range": {"start": start, "end": end},
        "dynamicClasses": meta.dynamicClasses,
        "dynamicTags": meta.dynamicTags,
        "allowRestore": meta.allowRestore,
    }
    if meta.readOnlyTags is not None:
        stored["readOnlyTags"] = meta.readOnlyTags
    return dump_user_json(stored, "meta")


def selected_images(ctx: Context, dataset_id: int, meta: JobMetaBody) -> list[int]:
    """The job's images in id order: explicit `entityIds` (all in the dataset), or the whole dataset.

    For the whole dataset, `imageTags` filters apply: sandbox images carry no tags, so an include filter
    matches nothing and an exclude filter removes nothing. `meta.range` (1-based, inclusive) then cuts the
    ordered selection before it is split among the labelers.
    """
    if meta.entityIds:
        image_ids = sorted(set(meta.entityIds))
        encoded = orjson.dumps(image_ids).decode()
        (found,) = ctx.db.execute(
            "SELECT count(*) FROM json_each(?) j CROSS JOIN images i ON i.id = j.value WHERE i.dataset_id = ?",
            (encoded, dataset_id),
        ).fetchone()
        if found != len(image_ids):
            missing = [
                row[0]
                for row in ctx.db.execute(
                    "SELECT j.value FROM json_each(?) j LEFT JOIN images i ON i.id = j.value AND i.dataset_id = ?"
                    " WHERE i.id IS NULL ORDER BY j.value LIMIT 10",
                    (encoded, dataset_id),
                )
            ]
            raise BadRequest(
                f"{len(image_ids) - found} of the entityIds are not images of dataset {dataset_id}, e.g. {missing}"
            )
    elif any(tag.positive for tag in meta.imageTags):
        image_ids = []
    else:
        image_ids = [
            row[0]
            for row in ctx.db.execute("SELECT id FROM images WHERE dataset_id = ? ORDER BY id", (dataset_id,))
        ]
    if meta.range:
        start = (meta.range.start or 1) - 1
        end = meta.range.end if meta.range.end is not None else len(image_ids)
        image_ids = image_ids[start:end]
    return image_ids


def _require_job_manager(job: JobRef, action: str) -> None:
    """403 unless the caller administers the job's team's jobs."""
    require_role(job.role, JOB_MANAGERS, action)


@api_method("jobs.add", JobsAddBody, write=True)
def add_jobs(ctx: Context, body: JobsAddBody) -> list[dict[str, int]]:
    """Create one job per user over an even, contiguous share of the images; reply `[{"id"}, …]`."""
    dataset = find_dataset(ctx, body.datasetId)
    require_role(dataset.role, JOB_MANAGERS, "create labeling jobs")
    reviewer_id = body.reviewerId if body.reviewerId is not None else ctx.actor.id
    require_workers(ctx.db, dataset.team_id, body.userIds, "userIds")
    require_workers(ctx.db, dataset.team_id, [reviewer_id], "reviewerId")
    meta_json = job_meta(ctx, dataset.project_id, body.meta)
    new = NewJobs(
        team_id=dataset.team_id,
        workspace_id=dataset.workspace_id,
        project_id=dataset.project_id,
        dataset_id=dataset.id,
        name=body.name,
        labeler_ids=body.userIds,
        reviewer_id=reviewer_id,
        meta_json=meta_json,
        image_ids=selected_images(ctx, dataset.id, body.meta),
        readme=body.readme or "",
        description=body.description or "",
        custom_data_json=dump_user_json(body.customData or {}, "customData"),
    )
    return [{"id": job_id} for job_id in create_jobs(ctx, new)]


@api_method("jobs.info", IdBody)
def get_job(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One job with its `entities` `[{id, name, reviewStatus}]`."""
    find_job(ctx, body.id)
    entities = ctx.db.execute(
        "SELECT e.image_id, i.name, e.review_status FROM job_entities e JOIN images i ON i.id = e.image_id"
        " WHERE e.job_id = ? ORDER BY e.image_id",
        (body.id,),
    ).fetchall()
    job = read_job(ctx.db, body.id)
    job["entities"] = [
        {"id": image_id, "name": name, "reviewStatus": status} for image_id, name, status in entities
    ]
    return job


@api_method("jobs.list", JobsListBody)
def list_jobs(ctx: Context, body: JobsListBody) -> dict[str, Any]:
    """A team's jobs (only those it labels or reviews for a non-manager), archived ones only with showDisabled."""
    role = scope_role(ctx, "Team", body.teamId)
    scope, params = ["j.team_id = ?"], [body.teamId]
    if role not in JOB_MANAGERS:
        scope.append("(j.user_id = ? OR j.reviewer_id = ?)")
        params += [ctx.actor.id, ctx.actor.id]
    if not body.showDisabled:
        scope.append("j.disabled = 0")
    return run_list(
        ctx.db,
        spec=ListSpec(_JOB_FIELDS, ctx.page_sizes.jobs),
        body=body,
        select=JOB_COLUMNS,
        source=JOB_SOURCE,
        scope=scope,
        scope_params=params,
        to_entity=job_entity,
        count_source="jobs j",
    )


@api_method("jobs.editInfo", JobsEditInfoBody, write=True)
def edit_job(ctx: Context, body: JobsEditInfoBody) -> dict[str, bool]:
    """Change a job's name, texts, `customData` (replaced as a whole), labeler or reviewer."""
    job = find_job(ctx, body.id)
    _require_job_manager(job, "edit labeling jobs")
    changes: dict[str, Any] = {}
    for column, value in (("name", body.name), ("description", body.description), ("readme", body.readme)):
        if value is not None:
            changes[column] = value
    if body.customData is not None:
        changes["custom_data"] = dump_user_json(body.customData, "customData")
    if body.userId is not None:
        require_workers(ctx.db, job.team_id, [body.userId], "userId")
        changes["user_id"] = body.userId
    if body.reviewerId is not None:
        require_workers(ctx.db, job.team_id, [body.reviewerId], "reviewerId")
        changes["reviewer_id"] = body.reviewerId
    if changes:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        ctx.db.execute(
            f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608 - column names from a fixed tuple, values bound
            [*changes.values(), ctx.now, body.id],
        )
        log_activity(ctx, job.team_id, job.id, "job_edited", fields=sorted(changes))
    return success()


_SPLITTABLE_STATUSES = ("pending", "in_progress")
_UNTOUCHED_IMAGES = """
SELECT e.image_id FROM job_entities e
WHERE e.job_id = ? AND e.image_id IN (SELECT value FROM json_each(?)) AND e.review_status = 'none'
  AND NOT EXISTS (SELECT 1 FROM annotation_time t WHERE t.job_id = e.job_id AND t.image_id = e.image_id)
  AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = e.image_id AND ? IS NOT NULL AND a.updated_at >= ?)
ORDER BY e.image_id
"""


@api_method("jobs.split", JobsSplitBody, write=True)
def split_job(ctx: Context, body: JobsSplitBody) -> dict[str, Any]:
    """Sandbox only: move the listed images a job's labeler has not touched into a new job of `userId`, atomically.

    Supervisely 6.74.51 has no call that takes images out of a job (`jobs.restart` takes only rejected images
    and completes the old job), so this models one. Untouched = review status `none`, no annotation time recorded
    in the job, and no annotation written since the job started. Touched images stay (reply `skippedIds`), so an
    image its labeler began is never moved. One transaction: once it commits, the old job's labeler can no longer
    mark or annotate the moved images. The new job copies the old one's meta, texts and reviewer (unless
    `reviewerId`), records it as `parentJobId`, and takes `customData`. Reply `{id, entityIds, skippedIds}`.
    """
    job = find_job(ctx, body.id)
    _require_job_manager(job, "split labeling jobs")
    if job.status not in _SPLITTABLE_STATUSES:
        raise BadRequest(f"Labeling job {job.id} is {job.status!r}: only a pending or in-progress job can be split")
    if ctx.db.execute("SELECT 1 FROM labeling_queue_jobs WHERE job_id = ?", (job.id,)).fetchone():
        raise BadRequest(f"Labeling job {job.id} belongs to a labeling queue, which hands out its images itself")
    if body.userId == job.user_id:
        raise BadRequest(f"userId {body.userId} already labels job {job.id}")
    requested = sorted(set(body.entityIds))
    encoded = orjson.dumps(requested).decode()
    in_job = {
        row[0]
        for row in ctx.db.execute(
            "SELECT image_id FROM job_entities WHERE job_id = ? AND image_id IN (SELECT value FROM json_each(?))",
            (job.id, encoded),
        )
    }
    strangers = [image_id for image_id in requested if image_id not in in_job]
    if strangers:
        raise BadRequest(f"{len(strangers)} of the entityIds are not images of labeling job {job.id}, e.g. {strangers[:10]}")
    name, readme, description, meta_json, reviewer_id, workspace_id, started_at, images_count = ctx.db.execute(
        "SELECT name, readme, description, meta, reviewer_id, workspace_id, started_at, images_count"
        " FROM jobs WHERE id = ?",
        (job.id,),
    ).fetchone()
    new_reviewer_id = body.reviewerId if body.reviewerId is not None else reviewer_id
    require_workers(ctx.db, job.team_id, [body.userId], "userId")
    require_workers(ctx.db, job.team_id, [new_reviewer_id], "reviewerId")
    moved = [row[0] for row in ctx.db.execute(_UNTOUCHED_IMAGES, (job.id, encoded, started_at, started_at))]
    if not moved:
        raise BadRequest(f"No images found to move: the labeler of job {job.id} has touched every listed image")
    if len(moved) >= images_count:
        raise BadRequest(f"Moving {len(moved)} images would leave labeling job {job.id} empty")
    ctx.db.execute(
        "DELETE FROM job_entities WHERE job_id = ? AND image_id IN (SELECT value FROM json_each(?))",
        (job.id, orjson.dumps(moved).decode()),
    )
    recount(ctx.db, job.id)
    ctx.db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (ctx.now, job.id))
    new = NewJobs(
        team_id=job.team_id,
        workspace_id=workspace_id,
        project_id=job.project_id,
        dataset_id=job.dataset_id,
        name=body.name or name,
        labeler_ids=[body.userId],
        reviewer_id=new_reviewer_id,
        meta_json=meta_json,
        image_ids=moved,
        readme=readme,
        description=description,
        custom_data_json=dump_user_json(body.customData or {}, "customData"),
        parent_job_id=job.id,
    )
    (new_job_id,) = create_jobs(ctx, new)
    log_activity(ctx, job.team_id, job.id, "job_split", new_job=new_job_id, moved=len(moved))
    skipped = sorted(set(requested) - set(moved))
    return {"id": new_job_id, "entityIds": moved, "skippedIds": skipped}


@api_method("jobs.stop", IdBody, write=True)
def stop_job(ctx: Context, body: IdBody) -> dict[str, bool]:
    """Stop a job: status `stopped`, the labeler can no longer work on it."""
    job = find_job(ctx, body.id)
    _require_job_manager(job, "stop labeling jobs")
    set_job_status(ctx, job.id, "stopped")
    log_activity(ctx, job.team_id, job.id, "job_stopped")
    return success()


@api_method("jobs.archive", IdBody, write=True)
def archive_job(ctx: Context, body: IdBody) -> dict[str, bool]:
    """Archive a job: `disabled`, hidden from `jobs.list` unless `showDisabled`."""
    job = find_job(ctx, body.id)
    _require_job_manager(job, "archive labeling jobs")
    ctx.db.execute("UPDATE jobs SET disabled = 1, updated_at = ? WHERE id = ?", (ctx.now, job.id))
    log_activity(ctx, job.team_id, job.id, "job_archived")
    return success()


@api_method("jobs.bulk.remove", JobsBulkRemoveBody, write=True)
def remove_jobs(ctx: Context, body: JobsBulkRemoveBody) -> dict[str, bool]:
    """Delete jobs. Ids the caller cannot see (or already removed) are skipped, so a retry succeeds.

    A caller who administers jobs in no team (viewer, annotator, reviewer, outsider) is refused outright, even
    for ids it cannot see, so a refusal never looks like a success.
    """
    if not holds_role_anywhere(ctx.db, ctx.actor, JOB_MANAGERS):
        raise Forbidden("Only job managers (team admin, manager, developer) may remove labeling jobs")
    found = (visible_job(ctx, job_id) for job_id in dict.fromkeys(body.ids))
    visible = [job for job in found if job is not None]
    for job in visible:
        _require_job_manager(job, "remove labeling jobs")
    for job in visible:
        ctx.db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
        log_activity(ctx, job.team_id, job.id, "job_removed")
    return success()


@api_method("jobs.stats", IdBody)
def job_stats(ctx: Context, body: IdBody) -> dict[str, Any]:
    """Per-job, per-class and per-image statistics; doubles as the per-image review-status listing."""
    find_job(ctx, body.id)
    job = read_job(ctx.db, body.id)
    (meta_json,) = ctx.db.execute("SELECT meta FROM jobs WHERE id = ?", (body.id,)).fetchone()
    meta = orjson.loads(meta_json)
    # Annotation time is recorded by the sandbox's crew (`annotation_time`, seconds per image of this job).
    images = ctx.db.execute(
        "SELECT e.image_id, i.name, e.review_status, coalesce(t.seconds, 0) FROM job_entities e"
        " JOIN images i ON i.id = e.image_id"
        " LEFT JOIN annotation_time t ON t.job_id = e.job_id AND t.image_id = e.image_id"
        " WHERE e.job_id = ? ORDER BY e.image_id",
        (body.id,),
    ).fetchall()
    class_ids = [object_class["id"] for object_class in meta.get("classes", [])]
    classes = ctx.db.execute(
        "SELECT id, definition FROM object_classes WHERE id IN (SELECT value FROM json_each(?)) ORDER BY position",
        (orjson.dumps(class_ids).decode(),),
    ).fetchall()
    return {
        "job": {
            "id": job["id"],
            "name": job["name"],
            "startedAt": job["startedAt"],
            "finishedAt": job["finishedAt"],
            "imagesCount": job["imagesCount"],
            "finishedImagesCount": job["finishedImagesCount"],
            "acceptedImagesCount": job["acceptedImagesCount"],
            "rejectedImagesCount": job["rejectedImagesCount"],
            "annotationDuration": sum(seconds for *_, seconds in images),
            "editingDuration": 0,
            "tagsStats": [],
        },
        "classes": [
            {
                "id": class_id,
                "name": definition["title"],
                "color": definition.get("color"),
                "shape": definition.get("shape"),
                "imagesCount": 0,
                "labelsCount": 0,
                "totalDuration": 0,
                "avgDuration": 0,
            }
            for class_id, definition in ((class_id, orjson.loads(text)) for class_id, text in classes)
        ],
        "images": {
            "total": len(images),
            "images": [
                {
                    "id": image_id,
                    "name": name,
                    "reviewStatus": status,
                    "annotationDuration": seconds,
                    "totalDuration": seconds,
                    "labelsCount": 0,
                }
                for image_id, name, status, seconds in images
            ],
        },
    }
