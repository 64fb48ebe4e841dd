"""Labeling-queue building blocks: visibility, the derived per-image status, counters and the wire shape.

An image's queue status is derived from the job that took it last (`labeling_queue_entities.job_id`): its
`job_entities` row says `none` (being labeled), `done` (on review) or `accepted`; no job, a vanished row or a
`rejected` row means the image is back in the queue (`null`, pending) for whoever takes it first.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from labelrounds.sandbox.errors import NotFound
from labelrounds.sandbox.permissions import JOB_MANAGERS, Role, team_role
from labelrounds.sandbox.registry import Context
from labelrounds.sandbox.wire import json_fragment

#: The queue status of an image as SQL over `je` (its `job_entities` row): NULL while pending in the queue.
ENTITY_STATUS_SQL = "CASE WHEN je.review_status IN ('none', 'done', 'accepted') THEN je.review_status END"
#: The queue's images joined with the job rows their status derives from.
ENTITY_SOURCE = "labeling_queue_entities qe LEFT JOIN job_entities je ON je.job_id = qe.job_id AND je.image_id = qe.image_id"
QUEUE_COLUMNS = (
    "q.id, q.name, q.readme, q.description, q.team_id, q.workspace_id, q.project_id, q.dataset_id, q.created_by,"
    " q.created_at, q.updated_at, q.finished_at, q.status, q.disabled, q.meta, q.queue_meta"
)
#: Stored statuses that an all-accepted queue reports as `completed`.
OPEN_STATUSES = frozenset({"pending", "in_progress"})


@dataclass(frozen=True)
class QueueRef:
    """A visible labeling queue with what the permission rules need."""

    id: int
    team_id: int
    project_id: int
    status: str
    disabled: bool
    role: Role

    @property
    def managed(self) -> bool:
        """Whether the caller administers the team's queues and jobs."""
        return self.role in JOB_MANAGERS


def visible_queue(ctx: Context, queue_id: int) -> QueueRef | None:
    """A queue the caller may see (any of its team for job managers, else only one it labels or reviews)."""
    row = ctx.db.execute(
        "SELECT team_id, project_id, status, disabled FROM labeling_queues WHERE id = ?", (queue_id,)
    ).fetchone()
    if row is None:
        return None
    team_id, project_id, status, disabled = row
    role = team_role(ctx.db, ctx.actor, team_id)
    if role is None:
        return None
    queue = QueueRef(queue_id, team_id, project_id, status, bool(disabled), role)
    if not queue.managed and not is_queue_worker(ctx.db, queue_id, ctx.actor.id):
        return None
    return queue


def find_queue(ctx: Context, queue_id: int) -> QueueRef:
    """A queue the caller may see, else 404."""
    queue = visible_queue(ctx, queue_id)
    if queue is None:
        raise NotFound(f"Labeling queue {queue_id} not found")
    return queue


def is_queue_worker(db: sqlite3.Connection, queue_id: int, user_id: int) -> bool:
    """Whether the user labels (owns a job of) or reviews the queue."""
    row = db.execute(
        "SELECT 1 FROM labeling_queue_jobs qj JOIN jobs j ON j.id = qj.job_id WHERE qj.queue_id = ? AND j.user_id = ?"
        " UNION ALL SELECT 1 FROM labeling_queue_reviewers WHERE queue_id = ? AND user_id = ? LIMIT 1",
        (queue_id, user_id, queue_id, user_id),
    ).fetchone()
    return row is not None


@dataclass(frozen=True)
class QueueCounts:
    """How many of a queue's images are in each queue status."""

    entities: int
    pending: int
    in_progress: int
    on_review: int
    accepted: int


def queue_counts(db: sqlite3.Connection, queue_id: int) -> QueueCounts:
    """Count a queue's images per derived status (one scan of its entities)."""
    row = db.execute(
        f"SELECT count(*), coalesce(sum({ENTITY_STATUS_SQL} IS NULL), 0),"  # noqa: S608 - fixed SQL fragments, id bound
        f" coalesce(sum(je.review_status = 'none'), 0), coalesce(sum(je.review_status = 'done'), 0),"
        f" coalesce(sum(je.review_status = 'accepted'), 0) FROM {ENTITY_SOURCE} WHERE qe.queue_id = ?",
        (queue_id,),
    ).fetchone()
    return QueueCounts(*row)


def reported_status(stored: str, counts: QueueCounts) -> str:
    """The status a queue reports: `completed` once every image is accepted, unless a manager set another."""
    if stored in OPEN_STATUSES and counts.entities and counts.accepted == counts.entities:
        return "completed"
    return stored


def _people(db: sqlite3.Connection, sql: str, queue_id: int) -> list[dict[str, Any]]:
    """`[{id, login}]` of the users a query selects for a queue."""
    return [{"id": user_id, "login": login} for user_id, login in db.execute(sql, (queue_id,))]


def queue_entity(db: sqlite3.Connection, row: tuple[Any, ...]) -> dict[str, Any]:
    """A LabelingQueueInfo object from a row of `QUEUE_COLUMNS`, with its people, jobs and counters."""
    (
        queue_id,
        name,
        readme,
        description,
        team_id,
        workspace_id,
        project_id,
        dataset_id,
        created_by,
        created_at,
        updated_at,
        finished_at,
        status,
        disabled,
        meta,
        queue_meta,
    ) = row
    counts = queue_counts(db, queue_id)
    jobs = db.execute(
        "SELECT j.id, j.user_id, u.login, j.status FROM labeling_queue_jobs qj JOIN jobs j ON j.id = qj.job_id"
        " JOIN users u ON u.id = j.user_id WHERE qj.queue_id = ? ORDER BY j.id",
        (queue_id,),
    ).fetchall()
    return {
        "id": queue_id,
        "name": name,
        "readme": readme,
        "description": description,
        "teamId": team_id,
        "workspaceId": workspace_id,
        "projectId": project_id,
        "datasetId": dataset_id,
        "collectionId": None,
        "createdBy": created_by,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "finishedAt": finished_at,
        "status": reported_status(status, counts),
        "disabled": bool(disabled),
        "labelers": [{"id": user_id, "login": login} for _, user_id, login, _ in jobs],
        "reviewers": _people(
            db,
            "SELECT u.id, u.login FROM labeling_queue_reviewers r JOIN users u ON u.id = r.user_id"
            " WHERE r.queue_id = ? ORDER BY r.position",
            queue_id,
        ),
        "jobs": [
            {"id": job_id, "userId": user_id, "status": job_status} for job_id, user_id, _, job_status in jobs
        ],
        "meta": json_fragment(meta),
        "queueMeta": json_fragment(queue_meta),
        "entitiesCount": counts.entities,
        "pendingCount": counts.pending,
        "inProgressCount": counts.in_progress,
        "onReviewCount": counts.on_review,
        "annotatedCount": counts.on_review + counts.accepted,
        "acceptedCount": counts.accepted,
    }


def read_queue(db: sqlite3.Connection, queue_id: int) -> dict[str, Any]:
    """One queue's wire object; the caller has checked it exists and is visible."""
    row = db.execute(f"SELECT {QUEUE_COLUMNS} FROM labeling_queues q WHERE q.id = ?", (queue_id,)).fetchone()  # noqa: S608 - fixed columns, id bound
    return queue_entity(db, row)
