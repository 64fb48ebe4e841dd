"""Webhook events of the sandbox: what the outbox holds and how a request's transaction adds to it.

An event becomes one `webhook_deliveries` row per matching webhook, written in the transaction of the request
that caused it: a rolled-back request sends nothing, and the delivery worker (`webhook_delivery`) only ever sees
committed events. Only `labeling_job.completed` is raised (when a job reaches `completed` from another status);
the sandbox has no labeling queues, so webhooks of the two queue actions are stored but never fire.

The payload is the sandbox's choice (the real format is not documented):
`{"action", "teamId", "webhookId", "deliveryId", "timestamp", "test", "data": {"jobId", "status"}}`; a test
event (`webhooks.test`) carries the caller's payload as `data` and `"test": true`.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from labelrounds.sandbox.registry import Context, dump_user_json

LABELING_JOB_COMPLETED = "labeling_job.completed"


def enqueue_job_event(ctx: Context, job_id: int, new_status: str) -> None:
    """Raise `labeling_job.completed` when a job is about to move to `completed` from another status.

    Called before the status is stored, so that repeating `completed` raises nothing.
    """
    if new_status != "completed":
        return
    row = ctx.db.execute("SELECT team_id, status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or row[1] == "completed":
        return
    enqueue_event(
        ctx.db,
        team_id=row[0],
        action=LABELING_JOB_COMPLETED,
        data={"jobId": job_id, "status": "completed"},
        timestamp=ctx.now,
    )


def enqueue_event(
    db: sqlite3.Connection,
    *,
    team_id: int,
    action: str,
    data: dict[str, Any],
    timestamp: str,
    webhook_id: int | None = None,
    test: bool = False,
) -> int:
    """Add one delivery per webhook of the team for `action` (or only for `webhook_id`); returns how many.

    Args:
        db: the request's transaction.
        team_id: the team whose webhooks receive the event.
        action: the event's action; with `webhook_id`, the webhook receives it whatever its own action.
        data: the event's details (`data` of the payload).
        timestamp: when the event happened (the request time).
        webhook_id: a single webhook to notify (a test event).
        test: whether this is a test event.
    """
    event = dump_user_json(
        {"action": action, "teamId": team_id, "timestamp": timestamp, "test": test, "data": data}, "The event"
    )
    if webhook_id is None:
        selection, params = "team_id = ? AND action = ?", (team_id, action)
    else:
        selection, params = "team_id = ? AND id = ?", (team_id, webhook_id)
    columns = "webhook_deliveries(webhook_id, event, next_attempt_at, created_at) SELECT id, ?, ?, ?"
    cursor = db.execute(
        f"INSERT INTO {columns} FROM webhooks WHERE {selection} ORDER BY id",  # noqa: S608 - fixed SQL, values bound
        (event, time.time(), timestamp, *params),
    )
    return cursor.rowcount
