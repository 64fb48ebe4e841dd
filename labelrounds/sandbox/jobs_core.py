"""Labeling-job building blocks shared by the job handlers: wire shape, creation, counters, activity."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from labelrounds.sandbox.errors import BadRequest
from labelrounds.sandbox.permissions import WORKERS, membership_role
from labelrounds.sandbox.registry import Context
from labelrounds.sandbox.store import allocate_ids
from labelrounds.sandbox.webhook_events import enqueue_job_event
from labelrounds.sandbox.wire import json_fragment

JOB_COLUMNS = (
    "j.id, j.name, j.readme, j.description, j.team_id, j.workspace_id, w.name, j.project_id, p.name,"
    " j.dataset_id, d.name, j.created_by, cu.login, j.user_id, lu.login, j.reviewer_id, ru.login,"
    " j.created_at, j.updated_at, j.started_at, j.finished_at, j.status, j.disabled, j.priority, j.meta,"
    " j.custom_data, j.images_count, j.done_count, j.accepted_count, j.rejected_count, j.parent_job_id,"
    " j.annotation_finished_at, j.review_finished_at, (SELECT q.queue_id FROM labeling_queue_jobs q WHERE q.job_id = j.id)"
)
JOB_SOURCE = (
    "jobs j JOIN workspaces w ON w.id = j.workspace_id JOIN projects p ON p.id = j.project_id"
    " JOIN datasets d ON d.id = j.dataset_id JOIN users cu ON cu.id = j.created_by"
    " JOIN users lu ON lu.id = j.user_id JOIN users ru ON ru.id = j.reviewer_id"
)
# Which counter column follows each per-image review status ("none" has none).
COUNTER_OF_STATUS = {"done": "done_count", "accepted": "accepted_count", "rejected": "rejected_count"}
FINISHED_STATUSES = frozenset({"completed", "stopped"})
# Statuses in which the review is over (`reviewFinishedAt` set), and those in which labeling is over too.
REVIEWED_STATUSES = ("completed", "review_completed")
SUBMITTED_STATUSES = ("on_review", *REVIEWED_STATUSES)
# Statuses that keep both phase timestamps as they are (a stop ends neither phase).
PHASE_NEUTRAL_STATUSES = ("stopped",)


def job_entity(row: Sequence[Any]) -> dict[str, Any]:
    """A LabelingJobInfo object from a row of `JOB_COLUMNS` (without `entities`)."""
    (
        job_id,
        name,
        readme,
        description,
        team_id,
        workspace_id,
        workspace_name,
        project_id,
        project_name,
        dataset_id,
        dataset_name,
        created_by,
        manager_login,
        user_id,
        labeler_login,
        reviewer_id,
        reviewer_login,
        created_at,
        updated_at,
        started_at,
        finished_at,
        status,
        disabled,
        priority,
        meta,
        custom_data,
        images_count,
        done_count,
        accepted_count,
        rejected_count,
        parent_job_id,
        annotation_finished_at,
        review_finished_at,
        labeling_queue_id,
    ) = row
    return {
        "id": job_id,
        "name": name,
        "readme": readme,
        "description": description,
        "teamId": team_id,
        "workspaceId": workspace_id,
        "workspaceTitle": workspace_name,
        "projectId": project_id,
        "projectTitle": project_name,
        "datasetId": dataset_id,
        "datasetTitle": dataset_name,
        "createdBy": created_by,
        "managerLogin": manager_login,
        "userId": user_id,
        "labelerLogin": labeler_login,
        "reviewerId": reviewer_id,
        "reviewerLogin": reviewer_login,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "startedAt": started_at,
        "finishedAt": finished_at,
        "annotationFinishedAt": annotation_finished_at,
        "reviewFinishedAt": review_finished_at,
        "status": status,
        "disabled": bool(disabled),
        "labelingQueueId": labeling_queue_id,
        "labelingExamId": None,
        "priority": priority,
        "meta": json_fragment(meta),
        "customData": json_fragment(custom_data),
        "imagesCount": images_count,
        "finishedImagesCount": done_count + accepted_count + rejected_count,
        "acceptedImagesCount": accepted_count,
        "rejectedImagesCount": rejected_count,
        "progressImagesCount": done_count,
        "parentJobId": parent_job_id,
    }


def read_job(db: sqlite3.Connection, job_id: int) -> dict[str, Any]:
    """One job's wire object (without `entities`); the caller has checked it exists and is visible."""
    row = db.execute(f"SELECT {JOB_COLUMNS} FROM {JOB_SOURCE} WHERE j.id = ?", (job_id,)).fetchone()  # noqa: S608 - fixed columns and joins, id bound
    return job_entity(row)


def require_workers(db: sqlite3.Connection, team_id: int, user_ids: Sequence[int], what: str) -> None:
    """400 unless every user is a team member who may label or review (not a viewer, not an outsider)."""
    if len(set(user_ids)) != len(user_ids):
        raise BadRequest(f"{what}: the same user is listed twice: {list(user_ids)}")
    refused = [user_id for user_id in user_ids if membership_role(db, user_id, team_id) not in WORKERS]
    if refused:
        raise BadRequest(
            f"{what}: users {refused} are not members of team {team_id} who may label or review (viewers may not)"
        )


def split_evenly(image_ids: Sequence[int], parts: int) -> list[Sequence[int]]:
    """Contiguous slices in the given order, sizes differing by at most one, the first slices larger."""
    base, remainder = divmod(len(image_ids), parts)
    slices, start = [], 0
    for index in range(parts):
        size = base + (1 if index < remainder else 0)
        slices.append(image_ids[start : start + size])
        start += size
    return slices


@dataclass(frozen=True)
class NewJobs:
    """Everything a batch of new jobs shares; the images are split among the labelers."""

    team_id: int
    workspace_id: int
    project_id: int
    dataset_id: int
    name: str
    labeler_ids: Sequence[int]
    reviewer_id: int
    meta_json: str
    image_ids: Sequence[int]
    readme: str = ""
    description: str = ""
    custom_data_json: str = "{}"
    parent_job_id: int | None = None


def create_jobs(ctx: Context, new: NewJobs) -> list[int]:
    """Insert one job per labeler over its share of the images; names get ` (#k)` for k ≥ 2."""
    shares = split_evenly(new.image_ids, len(new.labeler_ids))
    first_id = allocate_ids(ctx.db, len(new.labeler_ids))
    job_ids = []
    for index, (labeler_id, share) in enumerate(zip(new.labeler_ids, shares, strict=True)):
        job_id = first_id + index
        name = new.name if index == 0 else f"{new.name} (#{index + 1})"
        ctx.db.execute(
            "INSERT INTO jobs(id, team_id, workspace_id, project_id, dataset_id, name, readme, description, status,"
            " created_by, user_id, reviewer_id, meta, custom_data, parent_job_id, images_count, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                new.team_id,
                new.workspace_id,
                new.project_id,
                new.dataset_id,
                name,
                new.readme,
                new.description,
                ctx.actor.id,
                labeler_id,
                new.reviewer_id,
                new.meta_json,
                new.custom_data_json,
                new.parent_job_id,
                len(share),
                ctx.now,
                ctx.now,
            ),
        )
        ctx.db.execute(
            "INSERT INTO job_entities(job_id, image_id) SELECT ?, value FROM json_each(?)",
            (job_id, orjson.dumps(list(share)).decode()),
        )
        log_activity(ctx, new.team_id, job_id, "job_created")
        job_ids.append(job_id)
    return job_ids


def recount(db: sqlite3.Connection, job_id: int) -> None:
    """Recompute a job's review counters from its entities (after a bulk change)."""
    counts = dict(
        db.execute(
            "SELECT review_status, count(*) FROM job_entities WHERE job_id = ? GROUP BY review_status",
            (job_id,),
        ).fetchall()
    )
    db.execute(
        "UPDATE jobs SET images_count = ?, done_count = ?, accepted_count = ?, rejected_count = ? WHERE id = ?",
        (
            sum(counts.values()),
            counts.get("done", 0),
            counts.get("accepted", 0),
            counts.get("rejected", 0),
            job_id,
        ),
    )


def move_counter(db: sqlite3.Connection, job_id: int, old_status: str, new_status: str) -> None:
    """Keep the counters in step with one entity moving from one review status to another."""
    if old_status == new_status:
        return
    assignments = []
    if old_status in COUNTER_OF_STATUS:
        assignments.append(f"{COUNTER_OF_STATUS[old_status]} = {COUNTER_OF_STATUS[old_status]} - 1")
    if new_status in COUNTER_OF_STATUS:
        assignments.append(f"{COUNTER_OF_STATUS[new_status]} = {COUNTER_OF_STATUS[new_status]} + 1")
    db.execute(f"UPDATE jobs SET {', '.join(assignments)} WHERE id = ?", (job_id,))  # noqa: S608 - counter columns from a fixed mapping, id bound


def set_job_status(ctx: Context, job_id: int, status: str) -> None:
    """Store a status with its timestamps.

    `startedAt` is set on the first start, `finishedAt` while completed or stopped. The phase timestamps follow
    the job's phase: `annotationFinishedAt` is when the labeler submitted (set on reaching `on_review`, or
    `completed` directly), `reviewFinishedAt` when the review ended (reaching `completed`). Sending a job back
    (to `in_progress` or `pending`) clears both, since the phases start again; reaching `on_review` again
    clears `reviewFinishedAt`. Repeating a status keeps its timestamps, and `stopped` changes neither.
    """
    enqueue_job_event(ctx, job_id, status)  # before the UPDATE: it compares with the stored status
    submitted = status in SUBMITTED_STATUSES
    reviewed = status in REVIEWED_STATUSES
    neutral = status in PHASE_NEUTRAL_STATUSES
    ctx.db.execute(
        "UPDATE jobs SET status = ?, updated_at = ?,"
        " started_at = CASE WHEN ? = 'in_progress' AND started_at IS NULL THEN ? ELSE started_at END,"
        " finished_at = CASE WHEN ? THEN coalesce(finished_at, ?) ELSE NULL END,"
        " annotation_finished_at = CASE WHEN ? THEN annotation_finished_at"
        "  WHEN ? THEN coalesce(annotation_finished_at, ?) ELSE NULL END,"
        " review_finished_at = CASE WHEN ? THEN review_finished_at"
        "  WHEN ? THEN coalesce(review_finished_at, ?) ELSE NULL END"
        " WHERE id = ?",
        (
            status,
            ctx.now,
            status,
            ctx.now,
            status in FINISHED_STATUSES,
            ctx.now,
            neutral,
            submitted,
            ctx.now,
            neutral,
            reviewed,
            ctx.now,
            job_id,
        ),
    )


def log_activity(
    ctx: Context,
    team_id: int,
    job_id: int | None,
    action: str,
    *,
    entity_id: int | None = None,
    **details: Any,
) -> None:
    """Record a team event for `teams.activity`."""
    ctx.db.execute(
        "INSERT INTO activity(team_id, job_id, user_id, action, entity_id, details, date) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (team_id, job_id, ctx.actor.id, action, entity_id, orjson.dumps(details).decode(), ctx.now),
    )
