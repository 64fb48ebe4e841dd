"""The job lifecycle: `jobs.set-status`, `jobs.entities.update-review-status`, `jobs.reject`, `jobs.restart`.

Labeler: `pending → in_progress`, images `none/rejected → done` and `done → none` while in progress, then
`in_progress → on_review` once every image is done or accepted. Reviewer: images `done/accepted/rejected →
accepted|rejected` while on review, then `on_review → completed` (every image reviewed) or `→ in_progress`
(sent back). Job managers (admin, manager, developer) may set any status at any time.
"""

from __future__ import annotations

from typing import Any

from labelrounds.sandbox.errors import BadRequest, Forbidden, NotFound
from labelrounds.sandbox.jobs_core import (
    NewJobs,
    create_jobs,
    log_activity,
    move_counter,
    recount,
    require_workers,
    set_job_status,
)
from labelrounds.sandbox.lookups import JobRef, find_job
from labelrounds.sandbox.models import EntityReviewBody, JobsRejectBody, JobsRestartBody, JobsSetStatusBody
from labelrounds.sandbox.permissions import JOB_MANAGERS, require_role
from labelrounds.sandbox.registry import Context, api_method, dump_user_json, success

_LABELER_MOVES = {"in_progress": {"pending"}, "on_review": {"in_progress"}}
_REVIEWER_MOVES = {"completed": {"on_review"}, "in_progress": {"on_review"}}
_LABELER_MARKS = {"done": {"none", "done", "rejected"}, "none": {"none", "done"}}
_REVIEWER_MARKS = {"accepted": {"done", "accepted", "rejected"}, "rejected": {"done", "accepted", "rejected"}}


def _count_entities(ctx: Context, job_id: int, statuses: tuple[str, ...]) -> int:
    """How many of the job's images have one of these review statuses."""
    marks = ", ".join("?" for _ in statuses)
    (count,) = ctx.db.execute(
        f"SELECT count(*) FROM job_entities WHERE job_id = ? AND review_status IN ({marks})",  # noqa: S608 - only ? marks are interpolated, values bound
        (job_id, *statuses),
    ).fetchone()
    return int(count)


def _check_move(job: JobRef, actor_id: int, target: str) -> None:
    """Whether the caller may move the job to `target`: 403 for a move its part never makes, 400 for a wrong state."""
    if job.managed:
        return
    parts = [
        moves
        for moves, user_id in ((_LABELER_MOVES, job.user_id), (_REVIEWER_MOVES, job.reviewer_id))
        if user_id == actor_id
    ]
    allowed: dict[str, set[str]] = {}
    for moves in parts:
        for status, sources in moves.items():
            allowed.setdefault(status, set()).update(sources)
    if target not in allowed:
        raise Forbidden(f"You may not set labeling job {job.id} to {target!r}")
    if job.status != target and job.status not in allowed[target]:
        raise BadRequest(f"Labeling job {job.id} is {job.status!r} and cannot move to {target!r}")


@api_method("jobs.set-status", JobsSetStatusBody, write=True)
def set_status(ctx: Context, body: JobsSetStatusBody) -> dict[str, bool]:
    """Move a job through its lifecycle (see the module docstring for who may do what)."""
    job = find_job(ctx, body.id)
    _check_move(job, ctx.actor.id, body.status)
    if not job.managed and job.status != body.status:
        if body.status == "on_review" and (pending := _count_entities(ctx, job.id, ("none", "rejected"))):
            raise BadRequest(f"Labeling job {job.id} has {pending} images not marked done yet")
        if body.status == "completed" and (pending := _count_entities(ctx, job.id, ("none", "done"))):
            raise BadRequest(f"Labeling job {job.id} has {pending} images neither accepted nor rejected")
    set_job_status(ctx, job.id, body.status)
    log_activity(ctx, job.team_id, job.id, "status_changed", status=body.status, previous=job.status)
    return success()


def _check_mark(job: JobRef, actor_id: int, current: str, target: str) -> None:
    """Whether the caller may give one image a review status in the job's current state."""
    if job.managed:
        return
    if actor_id == job.user_id and target in _LABELER_MARKS:
        role, marks, working_status = "labeler", _LABELER_MARKS, "in_progress"
    elif actor_id == job.reviewer_id and target in _REVIEWER_MARKS:
        role, marks, working_status = "reviewer", _REVIEWER_MARKS, "on_review"
    else:
        raise Forbidden(f"You may not mark images of labeling job {job.id} as {target!r}")
    if job.status != working_status:
        raise BadRequest(
            f"The {role} can mark images only while the job is {working_status!r}; it is {job.status!r}"
        )
    if current not in marks[target]:
        raise BadRequest(f"An image that is {current!r} cannot become {target!r} by the {role}")


@api_method("jobs.entities.update-review-status", EntityReviewBody, write=True)
def update_review_status(ctx: Context, body: EntityReviewBody) -> dict[str, bool]:
    """Set one image's review status (`none`, `done`, `accepted`, `rejected`) and keep the counters exact."""
    job = find_job(ctx, body.jobId)
    row = ctx.db.execute(
        "SELECT review_status FROM job_entities WHERE job_id = ? AND image_id = ?", (job.id, body.entityId)
    ).fetchone()
    if row is None:
        raise NotFound(f"Image {body.entityId} is not part of labeling job {job.id}")
    current = row[0]
    _check_mark(job, ctx.actor.id, current, body.status)
    if current != body.status:
        ctx.db.execute(
            "UPDATE job_entities SET review_status = ? WHERE job_id = ? AND image_id = ?",
            (body.status, job.id, body.entityId),
        )
        move_counter(ctx.db, job.id, current, body.status)
        ctx.db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (ctx.now, job.id))
        log_activity(
            ctx, job.team_id, job.id, "review_status_changed", entity_id=body.entityId, status=body.status
        )
    return success()


@api_method("jobs.reject", JobsRejectBody, write=True)
def reject_images(ctx: Context, body: JobsRejectBody) -> dict[str, bool]:
    """Reject every image (`all`) or those not accepted or rejected yet (`unmarked`)."""
    job = find_job(ctx, body.id)
    if not job.managed:
        if ctx.actor.id != job.reviewer_id:
            raise Forbidden(f"Only the reviewer or a job manager may reject images of labeling job {job.id}")
        if job.status != "on_review":
            raise BadRequest(f"Images can be rejected only while the job is on review; it is {job.status!r}")
    condition = "" if body.mode == "all" else " AND review_status IN ('none', 'done')"
    ctx.db.execute(
        f"UPDATE job_entities SET review_status = 'rejected' WHERE job_id = ?{condition}",  # noqa: S608 - condition is one of two literals, id bound
        (job.id,),
    )
    recount(ctx.db, job.id)
    ctx.db.execute("UPDATE jobs SET updated_at = ? WHERE id = ?", (ctx.now, job.id))
    log_activity(ctx, job.team_id, job.id, "images_rejected", mode=body.mode)
    return success()


@api_method("jobs.restart", JobsRestartBody, write=True)
def restart_job(ctx: Context, body: JobsRestartBody) -> list[dict[str, Any]]:
    """A new job over the rejected images (same labeler and reviewer unless given); completes the old one.

    The new job records the old one as `parentJobId`; `customData` may be given for it (a sandbox extension).
    """
    job = find_job(ctx, body.id)
    require_role(job.role, JOB_MANAGERS, "restart labeling jobs")
    rejected = [
        row[0]
        for row in ctx.db.execute(
            "SELECT image_id FROM job_entities WHERE job_id = ? AND review_status = 'rejected' ORDER BY image_id",
            (job.id,),
        )
    ]
    if not rejected:
        raise BadRequest(f"No images found to restart: labeling job {job.id} has no rejected images")
    name, readme, description, meta_json, labeler_id, reviewer_id, workspace_id = ctx.db.execute(
        "SELECT name, readme, description, meta, user_id, reviewer_id, workspace_id FROM jobs WHERE id = ?",
        (job.id,),
    ).fetchone()
    labeler_ids = body.userIds or [labeler_id]
    new_reviewer_id = body.reviewerId if body.reviewerId is not None else reviewer_id
    require_workers(ctx.db, job.team_id, labeler_ids, "userIds")
    require_workers(ctx.db, job.team_id, [new_reviewer_id], "reviewerId")
    new = NewJobs(
        team_id=job.team_id,
        workspace_id=workspace_id,
        project_id=job.project_id,
        dataset_id=job.dataset_id,
        name=body.name or name,
        labeler_ids=labeler_ids,
        reviewer_id=new_reviewer_id,
        meta_json=meta_json,
        image_ids=rejected,
        readme=readme,
        description=description,
        custom_data_json=dump_user_json(body.customData or {}, "customData"),
        parent_job_id=job.id,
    )
    job_ids = create_jobs(ctx, new)
    if body.completeExisting:
        set_job_status(ctx, job.id, "completed")
    log_activity(ctx, job.team_id, job.id, "job_restarted", new_jobs=job_ids)
    return [{"id": job_id} for job_id in job_ids]
