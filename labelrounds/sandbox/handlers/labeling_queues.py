"""Labeling queues: `labeling-queues.add/info/list/set-status/stats.entities` and the sandbox's `entities.take`.

A queue owns one labeling job per labeler (created empty, reviewers assigned round-robin). A labeler asks
`labeling-queues.entities.take` for images: they move into its job (first come, first served), and from there
the job lifecycle of `jobs.*` applies unchanged (mark `done`, submit `on_review`, reviewer accepts/rejects).
A rejected image goes back to the queue (pending) and the next `take` of any labeler gets it, its own
labeler's first.
"""

from __future__ import annotations

from typing import Any

from labelrounds.sandbox.errors import BadRequest, Conflict, Existing, Forbidden, NotFound
from labelrounds.sandbox.handlers.jobs import job_meta, selected_images
from labelrounds.sandbox.jobs_core import (
    NewJobs,
    create_jobs,
    log_activity,
    recount,
    require_workers,
    set_job_status,
)
from labelrounds.sandbox.lookups import DatasetRef, find_dataset, scope_role
from labelrounds.sandbox.models import (
    IdBody,
    QueueEntitiesBody,
    QueuesAddBody,
    QueuesListBody,
    QueuesSetStatusBody,
    QueueTakeBody,
)
from labelrounds.sandbox.permissions import JOB_MANAGERS, require_role
from labelrounds.sandbox.querying import Column, ListSpec, run_list
from labelrounds.sandbox.queues_core import (
    ENTITY_SOURCE,
    ENTITY_STATUS_SQL,
    QUEUE_COLUMNS,
    find_queue,
    queue_entity,
    read_queue,
)
from labelrounds.sandbox.registry import Context, api_method, dump_user_json, success
from labelrounds.sandbox.store import allocate_ids
from labelrounds.sandbox.wire import dump_json

_QUEUE_FIELDS = {
    "id": Column("q.id"),
    "name": Column("q.name", text=True),
    "status": Column("q.status", text=True),
    "teamId": Column("q.team_id"),
    "projectId": Column("q.project_id"),
    "datasetId": Column("q.dataset_id"),
    "collectionId": Column("NULL"),
    "createdBy": Column("q.created_by"),
    "disabled": Column("q.disabled"),
    "createdAt": Column("q.created_at", text=True),
    "updatedAt": Column("q.updated_at", text=True),
}
_ENTITY_FIELDS = {"id": Column("qe.image_id"), "name": Column("i.name", text=True)}
_FINISHED = frozenset({"completed", "stopped"})


def _queue_dataset(ctx: Context, body: QueuesAddBody) -> DatasetRef:
    """The dataset a new queue labels; entity collections do not exist in the sandbox (404)."""
    if body.collectionId is not None:
        raise NotFound(f"Entities collection {body.collectionId} not found (the sandbox has no collections)")
    if body.datasetId is None:
        raise BadRequest("Either datasetId or collectionId must be given")
    return find_dataset(ctx, body.datasetId)


def _refuse_duplicate_name(ctx: Context, team_id: int, name: str) -> None:
    """400 NONUNIQUE when an active queue of the team has this name already."""
    row = ctx.db.execute(
        "SELECT id FROM labeling_queues WHERE team_id = ? AND name = ? AND disabled = 0", (team_id, name)
    ).fetchone()
    if row is not None:
        message = f"Labeling queue {name!r} already exists in team {team_id} (id {row[0]})"
        raise Conflict("labeling queue already exists", [Existing(name, int(row[0]), message)])


@api_method("labeling-queues.add", QueuesAddBody, write=True)
def add_queue(ctx: Context, body: QueuesAddBody) -> dict[str, int]:
    """Create a queue over the selected images with one empty job per labeler; reply `{"id"}`."""
    dataset = _queue_dataset(ctx, body)
    require_role(dataset.role, JOB_MANAGERS, "create labeling queues")
    extra_reviewer = [body.reviewerId] if body.reviewerId is not None else []
    reviewer_ids = list(dict.fromkeys([*body.reviewerIds, *extra_reviewer])) or [ctx.actor.id]
    require_workers(ctx.db, dataset.team_id, body.userIds, "userIds")
    require_workers(ctx.db, dataset.team_id, reviewer_ids, "reviewerIds")
    queue_meta = dict(body.queueMeta or {})
    if body.qualityCheckUserIds is not None:
        require_workers(ctx.db, dataset.team_id, body.qualityCheckUserIds, "qualityCheckUserIds")
        queue_meta["qualityCheckUserIds"] = body.qualityCheckUserIds
    meta_json = job_meta(ctx, dataset.project_id, body.meta)
    image_ids = selected_images(ctx, dataset.id, body.meta)
    _refuse_duplicate_name(ctx, dataset.team_id, body.name)
    queue_id = allocate_ids(ctx.db, 1)
    ctx.db.execute(
        "INSERT INTO labeling_queues(id, team_id, workspace_id, project_id, dataset_id, name, readme, description,"
        " created_by, meta, queue_meta, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            queue_id,
            dataset.team_id,
            dataset.workspace_id,
            dataset.project_id,
            dataset.id,
            body.name,
            body.readme or "",
            body.description or "",
            ctx.actor.id,
            meta_json,
            dump_user_json(queue_meta, "queueMeta"),
            ctx.now,
            ctx.now,
        ),
    )
    ctx.db.executemany(
        "INSERT INTO labeling_queue_reviewers(queue_id, user_id, position) VALUES (?, ?, ?)",
        [(queue_id, user_id, position) for position, user_id in enumerate(reviewer_ids)],
    )
    for index, labeler_id in enumerate(body.userIds):
        new = NewJobs(
            team_id=dataset.team_id,
            workspace_id=dataset.workspace_id,
            project_id=dataset.project_id,
            dataset_id=dataset.id,
            name=f"{body.name} (#{index + 1})",
            labeler_ids=[labeler_id],
            reviewer_id=reviewer_ids[index % len(reviewer_ids)],
            meta_json=meta_json,
            image_ids=[],
            readme=body.readme or "",
            description=body.description or "",
        )
        (job_id,) = create_jobs(ctx, new)
        ctx.db.execute("INSERT INTO labeling_queue_jobs(job_id, queue_id) VALUES (?, ?)", (job_id, queue_id))
    ctx.db.execute(
        "INSERT INTO labeling_queue_entities(queue_id, image_id) SELECT ?, value FROM json_each(?)",
        (queue_id, dump_json(image_ids)),
    )
    log_activity(ctx, dataset.team_id, None, "labeling_queue_created", queue_id=queue_id)
    return {"id": queue_id}


@api_method("labeling-queues.info", IdBody)
def get_queue(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One queue with its labelers, reviewers, jobs and progress counters."""
    find_queue(ctx, body.id)
    return read_queue(ctx.db, body.id)


@api_method("labeling-queues.list", QueuesListBody)
def list_queues(ctx: Context, body: QueuesListBody) -> dict[str, Any]:
    """A team's queues (only those it labels or reviews for a non-manager), archived ones only with showDisabled."""
    role = scope_role(ctx, "Team", body.teamId)
    scope, params = ["q.team_id = ?"], [body.teamId]
    if role not in JOB_MANAGERS:
        scope.append(
            "(q.id IN (SELECT qj.queue_id FROM labeling_queue_jobs qj JOIN jobs j ON j.id = qj.job_id"
            " WHERE j.user_id = ?) OR q.id IN (SELECT queue_id FROM labeling_queue_reviewers WHERE user_id = ?))"
        )
        params += [ctx.actor.id, ctx.actor.id]
    if not body.showDisabled:
        scope.append("q.disabled = 0")
    return run_list(
        ctx.db,
        spec=ListSpec(_QUEUE_FIELDS, ctx.page_sizes.other),
        body=body,
        select=QUEUE_COLUMNS,
        source="labeling_queues q",
        scope=scope,
        scope_params=params,
        to_entity=lambda row: queue_entity(ctx.db, row),
    )


@api_method("labeling-queues.set-status", QueuesSetStatusBody, write=True)
def set_queue_status(ctx: Context, body: QueuesSetStatusBody) -> dict[str, bool]:
    """Set a queue's status (job managers only); `stopped` or `completed` closes it to new takes."""
    queue = find_queue(ctx, body.id)
    require_role(queue.role, JOB_MANAGERS, "change the status of labeling queues")
    ctx.db.execute(
        "UPDATE labeling_queues SET status = ?, updated_at = ?,"
        " finished_at = CASE WHEN ? THEN coalesce(finished_at, ?) ELSE NULL END WHERE id = ?",
        (body.status, ctx.now, body.status in _FINISHED, ctx.now, queue.id),
    )
    log_activity(
        ctx, queue.team_id, None, "labeling_queue_status_changed", queue_id=queue.id, status=body.status
    )
    return success()


def _status_predicate(statuses: list[str | None]) -> tuple[str, list[Any]]:
    """SQL keeping the images whose derived queue status is one of `statuses` (None = pending)."""
    named = [status for status in statuses if status is not None]
    parts = [f"{ENTITY_STATUS_SQL} IN (SELECT value FROM json_each(?))"]  # noqa: S608 - fixed SQL, values bound
    if None in statuses:
        parts.append(f"{ENTITY_STATUS_SQL} IS NULL")
    return f"({' OR '.join(parts)})", [dump_json(named)]


@api_method("labeling-queues.stats.entities", QueueEntitiesBody)
def queue_entities(ctx: Context, body: QueueEntitiesBody) -> dict[str, Any]:
    """A queue's images with their queue status (`null` pending, `none`, `done`, `accepted`) and job."""
    find_queue(ctx, body.id)
    if body.filters:
        raise NotFound("Entities collections not found (the sandbox has no collections)")
    scope: list[str] = ["qe.queue_id = ?"]
    params: list[Any] = [body.id]
    if body.entityStatus is not None:
        predicate, predicate_params = _status_predicate(body.entityStatus)
        scope.append(predicate)
        params += predicate_params
    reply = run_list(
        ctx.db,
        spec=ListSpec(_ENTITY_FIELDS, ctx.page_sizes.images),
        body=body,
        select=f"qe.image_id, i.name, {ENTITY_STATUS_SQL}, CASE WHEN je.image_id IS NOT NULL THEN qe.job_id END,"
        " j.user_id",
        source=f"{ENTITY_SOURCE} JOIN images i ON i.id = qe.image_id LEFT JOIN jobs j ON j.id = je.job_id",
        scope=scope,
        scope_params=params,
        to_entity=lambda row: dict(zip(("id", "name", "status", "jobId", "labelerId"), row, strict=True)),
    )
    return {"images": reply.pop("entities"), **reply}


def _labeler_job(ctx: Context, queue_id: int) -> tuple[int, str]:
    """The caller's job in the queue (id, status); 403 for a caller who does not label it."""
    row = ctx.db.execute(
        "SELECT j.id, j.status FROM labeling_queue_jobs qj JOIN jobs j ON j.id = qj.job_id"
        " WHERE qj.queue_id = ? AND j.user_id = ? ORDER BY j.id LIMIT 1",
        (queue_id, ctx.actor.id),
    ).fetchone()
    if row is None:
        raise Forbidden(f"Only the labelers of labeling queue {queue_id} may take its images")
    return int(row[0]), str(row[1])


def _waiting_images(ctx: Context, queue_id: int, job_id: int, count: int) -> list[tuple[Any, ...]]:
    """Up to `count` pending images `(id, name, holding job or None, its review status or None)`, in take order.

    Three indexed steps instead of one sort of the whole queue, so that a take costs about its own size: the
    caller's own rejected images, then never-taken ones, then the rest still pending (rejected in other jobs, or
    whose job row vanished).
    """
    own_rejected = ctx.db.execute(
        "SELECT qe.image_id, i.name, qe.job_id, je.review_status FROM job_entities je"
        " JOIN labeling_queue_entities qe ON qe.queue_id = ? AND qe.image_id = je.image_id AND qe.job_id = je.job_id"
        " JOIN images i ON i.id = je.image_id WHERE je.job_id = ? AND je.review_status = 'rejected'"
        " ORDER BY je.image_id LIMIT ?",
        (queue_id, job_id, count),
    ).fetchall()
    found = list(own_rejected)
    if len(found) < count:
        found += ctx.db.execute(
            "SELECT qe.image_id, i.name, NULL, NULL FROM labeling_queue_entities qe JOIN images i ON i.id = qe.image_id"
            " WHERE qe.queue_id = ? AND qe.job_id IS NULL ORDER BY qe.image_id LIMIT ?",
            (queue_id, count - len(found)),
        ).fetchall()
    if len(found) < count:
        found += ctx.db.execute(
            f"SELECT qe.image_id, i.name, qe.job_id, je.review_status FROM {ENTITY_SOURCE}"  # noqa: S608 - fixed SQL fragments, values bound
            " JOIN images i ON i.id = qe.image_id"
            f" WHERE qe.queue_id = ? AND qe.job_id IS NOT NULL AND qe.job_id != ? AND {ENTITY_STATUS_SQL} IS NULL"
            " ORDER BY qe.image_id LIMIT ?",
            (queue_id, job_id, count - len(found)),
        ).fetchall()
    return found


@api_method("labeling-queues.entities.take", QueueTakeBody, write=True)
def take_entities(ctx: Context, body: QueueTakeBody) -> dict[str, Any]:
    """Move up to `count` pending images into the caller's job (sandbox extension of the labeling tool).

    Order: images rejected in the caller's own job, then never-taken images, then images rejected in other
    labelers' jobs (which leave those jobs), each by image id. Requests are serialised by the store, so two
    labelers never get the same image. Reply `{"jobId", "entities": [{id, name}]}` (empty when nothing waits).
    """
    queue = find_queue(ctx, body.id)
    job_id, job_status = _labeler_job(ctx, queue.id)
    if queue.disabled or queue.status in _FINISHED:
        state = "archived" if queue.disabled else queue.status
        raise BadRequest(f"Labeling queue {queue.id} is {state}: nothing to take")
    if job_status in ("on_review", "stopped"):
        raise BadRequest(f"Labeling job {job_id} is {job_status!r}: images can be taken once it is reviewed")
    candidates = _waiting_images(ctx, queue.id, job_id, body.count)
    if not candidates:
        return {"jobId": job_id, "entities": []}
    left_jobs = {old_job for _, _, old_job, row_status in candidates if row_status and old_job != job_id}
    for image_id, _, old_job, _ in candidates:
        if old_job is not None and old_job != job_id:
            ctx.db.execute("DELETE FROM job_entities WHERE job_id = ? AND image_id = ?", (old_job, image_id))
        ctx.db.execute(
            "INSERT INTO job_entities(job_id, image_id) VALUES (?, ?)"
            " ON CONFLICT(job_id, image_id) DO UPDATE SET review_status = 'none'",
            (job_id, image_id),
        )
        ctx.db.execute(
            "UPDATE labeling_queue_entities SET job_id = ? WHERE queue_id = ? AND image_id = ?",
            (job_id, queue.id, image_id),
        )
    for changed_job in (*sorted(left_jobs), job_id):
        recount(ctx.db, changed_job)
    if job_status != "in_progress":
        set_job_status(ctx, job_id, "in_progress")
    ctx.db.execute(
        "UPDATE labeling_queues SET status = CASE WHEN status = 'pending' THEN 'in_progress' ELSE status END,"
        " updated_at = ? WHERE id = ?",
        (ctx.now, queue.id),
    )
    taken = [image_id for image_id, *_ in candidates]
    log_activity(ctx, queue.team_id, job_id, "queue_images_taken", queue_id=queue.id, images=taken)
    return {
        "jobId": job_id,
        "entities": [{"id": image_id, "name": name} for image_id, name, *_ in candidates],
    }
