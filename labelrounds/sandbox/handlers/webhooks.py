"""Team webhooks: `webhooks.add/list/info/update/bulk.remove/test`, as `api.webhook` of the SDK calls them.

Only team admins and managers see or change a team's webhooks (their headers may carry a receiver's secret);
other members get 403, outsiders 404. Header values are never served back: replies name the headers with masked
values (the sandbox's choice; the real reply is not documented).
"""

from __future__ import annotations

from typing import Any

import orjson

from labelrounds.sandbox.errors import NotFound
from labelrounds.sandbox.lookups import scope_role
from labelrounds.sandbox.models import (
    IdBody,
    TeamScopedListBody,
    WebhooksAddBody,
    WebhooksBulkRemoveBody,
    WebhooksTestBody,
    WebhooksUpdateBody,
)
from labelrounds.sandbox.permissions import TEAM_MANAGERS, require_role, team_role
from labelrounds.sandbox.querying import Column, ListSpec, run_list
from labelrounds.sandbox.registry import Context, api_method, success
from labelrounds.sandbox.store import allocate_id
from labelrounds.sandbox.webhook_events import enqueue_event

MASKED_HEADER_VALUE = "********"
_COLUMNS = "id, team_id, action, url, meta, created_at, updated_at"
_FIELDS = {
    "id": Column("id"),
    "teamId": Column("team_id"),
    "action": Column("action", text=True),
    "url": Column("url", text=True),
    "createdAt": Column("created_at", text=True),
    "updatedAt": Column("updated_at", text=True),
}
_MANAGE = "manage the team's webhooks"


def _entity(row: tuple[Any, ...]) -> dict[str, Any]:
    """A webhook object: `{id, teamId, action, url, meta, createdAt, updatedAt}`, header values masked."""
    webhook_id, team_id, action, url, meta_json, created_at, updated_at = row
    meta = orjson.loads(meta_json)
    meta["headers"] = dict.fromkeys(meta.get("headers", {}), MASKED_HEADER_VALUE)
    return {
        "id": webhook_id,
        "teamId": team_id,
        "action": action,
        "url": url,
        "meta": meta,
        "createdAt": created_at,
        "updatedAt": updated_at,
    }


def _find_webhook(ctx: Context, webhook_id: int) -> tuple[Any, ...]:
    """A webhook row of a team the caller manages: unknown or of a foreign team → 404, not a manager → 403."""
    row = ctx.db.execute(f"SELECT {_COLUMNS} FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()  # noqa: S608 - fixed columns, id bound
    role = team_role(ctx.db, ctx.actor, row[1]) if row is not None else None
    if row is None or role is None:
        raise NotFound(f"Webhook {webhook_id} not found")
    require_role(role, TEAM_MANAGERS, _MANAGE)
    return tuple(row)


def _read(ctx: Context, webhook_id: int) -> dict[str, Any]:
    row = ctx.db.execute(f"SELECT {_COLUMNS} FROM webhooks WHERE id = ?", (webhook_id,)).fetchone()  # noqa: S608 - fixed columns, id bound
    return _entity(row)


def _require_team_manager(ctx: Context, team_id: int) -> None:
    """404 unknown team, 403 outsider or a member who does not manage the team."""
    require_role(scope_role(ctx, "Team", team_id), TEAM_MANAGERS, _MANAGE)


@api_method("webhooks.add", WebhooksAddBody, write=True)
def add_webhook(ctx: Context, body: WebhooksAddBody) -> dict[str, Any]:
    """Register a webhook of a team; the reply is the new webhook."""
    _require_team_manager(ctx, body.teamId)
    webhook_id = allocate_id(ctx.db)
    ctx.db.execute(
        "INSERT INTO webhooks(id, team_id, action, url, meta, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            webhook_id,
            body.teamId,
            body.action,
            body.url,
            body.meta.model_dump_json(),
            ctx.actor.id,
            ctx.now,
            ctx.now,
        ),
    )
    return _read(ctx, webhook_id)


@api_method("webhooks.list", TeamScopedListBody)
def list_webhooks(ctx: Context, body: TeamScopedListBody) -> dict[str, Any]:
    """A team's webhooks (team admins and managers)."""
    _require_team_manager(ctx, body.teamId)
    return run_list(
        ctx.db,
        spec=ListSpec(_FIELDS, ctx.page_sizes.other),
        body=body,
        select=_COLUMNS,
        source="webhooks",
        scope=["team_id = ?"],
        scope_params=[body.teamId],
        to_entity=_entity,
    )


@api_method("webhooks.info", IdBody)
def get_webhook(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One webhook."""
    return _entity(_find_webhook(ctx, body.id))


@api_method("webhooks.update", WebhooksUpdateBody, write=True)
def update_webhook(ctx: Context, body: WebhooksUpdateBody) -> dict[str, Any]:
    """Change a webhook's URL, action or delivery settings (only those given); pending deliveries follow."""
    webhook_id, _, action, url, meta_json, _, _ = _find_webhook(ctx, body.id)
    meta = orjson.loads(meta_json)
    if body.meta is not None:
        meta.update(body.meta.model_dump(exclude_none=True))
    ctx.db.execute(
        "UPDATE webhooks SET url = ?, action = ?, meta = ?, updated_at = ? WHERE id = ?",
        (body.url or url, body.action or action, orjson.dumps(meta).decode(), ctx.now, webhook_id),
    )
    return _read(ctx, webhook_id)


@api_method("webhooks.bulk.remove", WebhooksBulkRemoveBody, write=True)
def remove_webhooks(ctx: Context, body: WebhooksBulkRemoveBody) -> dict[str, bool]:
    """Delete webhooks and their pending deliveries; every id must be a webhook the caller manages."""
    ids = list(dict.fromkeys(body.ids))
    for webhook_id in ids:
        _find_webhook(ctx, webhook_id)
    ctx.db.executemany("DELETE FROM webhooks WHERE id = ?", [(webhook_id,) for webhook_id in ids])
    return success()


@api_method("webhooks.test", WebhooksTestBody, write=True)
def test_webhooks(ctx: Context, body: WebhooksTestBody) -> dict[str, Any]:
    """Queue a test event (`"test": true`, the caller's payload as `data`) to one webhook or the team's.

    With `id`, that webhook (of team `teamId`) gets it, as `action` or its own action; without, every webhook of
    the team for `action` (every webhook when no action is given). The reply counts the deliveries queued.
    """
    _require_team_manager(ctx, body.teamId)
    if body.id is not None:
        _, team_id, own_action, *_ = _find_webhook(ctx, body.id)
        if team_id != body.teamId:
            raise NotFound(f"Webhook {body.id} not found in team {body.teamId}")
        targets = [(body.id, body.action or own_action)]
    else:
        rows = ctx.db.execute(
            "SELECT id, action FROM webhooks WHERE team_id = ? AND (? IS NULL OR action = ?) ORDER BY id",
            (body.teamId, body.action, body.action),
        ).fetchall()
        targets = [(webhook_id, action) for webhook_id, action in rows]
    for webhook_id, action in targets:
        enqueue_event(
            ctx.db,
            team_id=body.teamId,
            action=action,
            data=body.payload,
            timestamp=ctx.now,
            webhook_id=webhook_id,
            test=True,
        )
    return {**success(), "queued": len(targets)}
