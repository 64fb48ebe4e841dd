"""A sandbox world with one user per team role and a job to act on, a sample body for every API method, and a
fingerprint of the whole database (to prove that a refused request wrote nothing)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from labelrounds.sandbox.bitmaps import ellipse_mask, encode_mask
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import add_user
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.store import Store

API = "/public/api/v3/"
CLOSED_LOOPBACK_URL = "http://127.0.0.1:9/hook"
"""Where the world's webhook posts: the discard port, closed, so a delivery fails at once and goes nowhere."""
# Columns the webhook delivery worker updates in the background (after a request): not part of the fingerprint.
_BACKGROUND_COLUMNS = {"webhook_deliveries": "id, webhook_id, event, created_at"}
ROLES = ("admin", "developer", "manager", "reviewer", "annotator", "viewer", "outsider")
"""Team roles (the team admin is not the instance admin), and a user of no team."""
_TEAM_ROLES = {
    "admin": Role.ADMIN,
    "developer": Role.DEVELOPER,
    "manager": Role.MANAGER,
    "reviewer": Role.REVIEWER,
    "annotator": Role.ANNOTATOR,
    "viewer": Role.VIEWER,
    "outsider": None,
}


@dataclass(frozen=True)
class World:
    """Ids and tokens of a lemons sandbox with one user per role and two annotators' jobs.

    `job_id` is labeled by the annotator and reviewed by the reviewer, is pending and has one image already
    rejected (so `jobs.restart` has something to restart); `other_job_id` belongs to a second annotator;
    `bystander_id` is a plain annotator of the team that member and user edits aim at; `loner_login` is a user
    of no team that `members.add` adds; `webhook_id` is a team webhook aimed at a closed loopback port.
    """

    url: str
    instance_admin_token: str
    tokens: dict[str, str]
    user_ids: dict[str, int]
    team_id: int
    workspace_id: int
    project_id: int
    dataset_id: int
    image_ids: tuple[int, ...]
    job_id: int
    other_job_id: int
    bystander_id: int
    loner_login: str
    webhook_id: int


# One pooled client for all the calls of the session: a new httpx client per call costs ~30 ms (TLS context).
_HTTP = httpx.Client(timeout=30)


def call(url: str, token: str | None, method: str, body: Any) -> httpx.Response:
    """POST one API method with a token (or none)."""
    headers = {"x-api-key": token} if token is not None else {}
    return _HTTP.post(f"{url}{API}{method}", json=body, headers=headers)


def ok(url: str, token: str, method: str, body: Any) -> Any:
    """POST one API method and require a 200; returns the JSON reply."""
    reply = call(url, token, method, body)
    assert reply.status_code == 200, f"{method} -> {reply.status_code} {reply.text}"
    return reply.json()


def webhook_body(team_id: int) -> dict[str, Any]:
    """A `webhooks.add` body: job completions of the team to the closed loopback port, no retries."""
    return {
        "teamId": team_id,
        "url": CLOSED_LOOPBACK_URL,
        "action": "labeling_job.completed",
        "meta": {"retriesCount": 0, "retriesDelay": 0, "headers": {"x-labelrounds-secret": "sample-secret"}},
    }


def build_world(server: SandboxServer) -> World:
    """Populate a freshly seeded lemons sandbox (thread mode) with the users and jobs of `World`."""
    assert server.store is not None and server.project_id is not None
    tokens: dict[str, str] = {}
    user_ids: dict[str, int] = {}
    for name, role in _TEAM_ROLES.items():
        user = add_user(server.store, f"sec_{name}", role=role, team_id=server.team_id)
        tokens[name], user_ids[name] = user.token.get_secret_value(), user.id
    second = add_user(server.store, "sec_annotator_2", role=Role.ANNOTATOR, team_id=server.team_id)
    bystander = add_user(server.store, "sec_bystander", role=Role.ANNOTATOR, team_id=server.team_id)
    add_user(server.store, "sec_loner")
    admin = server.admin_token.get_secret_value()
    image_ids = tuple(
        image["id"]
        for image in ok(server.url, admin, "images.list", {"datasetId": server.dataset_id})["entities"]
    )

    def new_job(name: str, labeler_id: int) -> int:
        body = {
            "name": name,
            "datasetId": server.dataset_id,
            "userIds": [labeler_id],
            "reviewerId": user_ids["reviewer"],
            "meta": {"classes": ["lemon"], "entityIds": list(image_ids[:3])},
        }
        return int(ok(server.url, admin, "jobs.add", body)[0]["id"])

    job_id = new_job("security job", user_ids["annotator"])
    other_job_id = new_job("another annotator's job", second.id)
    rejected = {"jobId": job_id, "entityId": image_ids[0], "status": "rejected"}
    ok(server.url, admin, "jobs.entities.update-review-status", rejected)
    webhook = ok(server.url, admin, "webhooks.add", webhook_body(server.team_id))
    return World(
        url=server.url,
        instance_admin_token=admin,
        tokens=tokens,
        user_ids=user_ids,
        team_id=server.team_id,
        workspace_id=server.workspace_id,
        project_id=server.project_id,
        dataset_id=server.dataset_id,
        image_ids=image_ids,
        job_id=job_id,
        other_job_id=other_job_id,
        bystander_id=bystander.id,
        loner_login="sec_loner",
        webhook_id=webhook["id"],
    )


def _current_meta(world: World) -> dict[str, Any]:
    return ok(world.url, world.instance_admin_token, "projects.meta", {"id": world.project_id})


def spare_dataset(world: World) -> int:
    """A new empty dataset (made by the instance admin), for the methods that remove one."""
    body = {"projectId": world.project_id, "name": f"spare {len(_SPARES)}"}
    _SPARES.append(ok(world.url, world.instance_admin_token, "datasets.add", body)["id"])
    return _SPARES[-1]


_SPARES: list[int] = []


def queue_body(world: World, name: str) -> dict[str, Any]:
    """A `labeling-queues.add` body: image_ids[3:] for the annotator, reviewed by the reviewer."""
    return {
        "name": name,
        "datasetId": world.dataset_id,
        "userIds": [world.user_ids["annotator"]],
        "reviewerIds": [world.user_ids["reviewer"]],
        "meta": {"classes": ["lemon"], "entityIds": list(world.image_ids[3:])},
    }


def spare_queue(world: World) -> int:
    """A new labeling queue (made by the instance admin) that the annotator labels and the reviewer reviews."""
    body = queue_body(world, f"spare queue {len(_SPARE_QUEUES)}")
    _SPARE_QUEUES.append(ok(world.url, world.instance_admin_token, "labeling-queues.add", body)["id"])
    return _SPARE_QUEUES[-1]


_SPARE_QUEUES: list[int] = []

LEMON_ANNOTATION: dict[str, Any] = {
    "description": "",
    "size": {"height": 800, "width": 1067},
    "tags": [],
    "objects": [
        {
            "classTitle": "lemon",
            "geometryType": "bitmap",
            "tags": [{"name": "size", "value": "small"}],
            "bitmap": {"origin": [10, 20], "data": encode_mask(ellipse_mask(8, 6))},
        }
    ],
}
"""A valid annotation for a lemons image: one small lemon bitmap."""


SAMPLE_BODIES: dict[str, Callable[[World], Any]] = {
    "instance.version": lambda w: {},
    "users.me": lambda w: {},
    "users.list": lambda w: {},
    "users.info": lambda w: {"id": w.bystander_id},
    "users.add": lambda w: {"login": "sec_newcomer", "password": "Newcomer-pw-1", "isRestricted": True},
    "users.editInfo": lambda w: {"id": w.bystander_id, "name": "Renamed"},
    "users.disable": lambda w: {"id": w.bystander_id, "disable": True},
    "teams.list": lambda w: {},
    "teams.info": lambda w: {"id": w.team_id},
    "teams.activity": lambda w: {"teamId": w.team_id},
    "workspaces.list": lambda w: {"teamId": w.team_id},
    "workspaces.info": lambda w: {"id": w.workspace_id},
    "roles.list": lambda w: {},
    "members.list": lambda w: {"teamId": w.team_id},
    "members.add": lambda w: {"login": w.loner_login, "teamId": w.team_id, "roleId": int(Role.ANNOTATOR)},
    "members.editInfo": lambda w: {"id": w.bystander_id, "teamId": w.team_id, "roleId": int(Role.VIEWER)},
    "members.remove": lambda w: {"id": w.bystander_id, "teamId": w.team_id},
    "projects.list": lambda w: {"workspaceId": w.workspace_id},
    "projects.info": lambda w: {"id": w.project_id},
    "projects.meta": lambda w: {"id": w.project_id},
    "projects.meta.update": lambda w: {"id": w.project_id, "meta": _current_meta(w)},
    "projects.settings.update": lambda w: {"id": w.project_id, "settings": {"labelingInterface": "default"}},
    "datasets.list": lambda w: {"projectId": w.project_id},
    "datasets.info": lambda w: {"id": w.dataset_id},
    "images.list": lambda w: {"datasetId": w.dataset_id},
    "images.info": lambda w: {"id": w.image_ids[0]},
    "images.bulk.add": lambda w: {
        "datasetId": w.dataset_id,
        "images": [{"title": "sec_copy.jpeg", "imageId": w.image_ids[0]}],
    },
    "images.bulk.remove": lambda w: {"imageIds": [w.image_ids[5]]},
    "datasets.add": lambda w: {"projectId": w.project_id, "name": "made by a role", "parentId": None},
    "datasets.archive": lambda w: {"id": spare_dataset(w)},
    "datasets.remove.permanently": lambda w: {"datasets": [{"id": spare_dataset(w)}]},
    "annotations.info": lambda w: {"imageId": w.image_ids[0]},
    "annotations.bulk.info": lambda w: {"datasetId": w.dataset_id, "imageIds": list(w.image_ids[:2])},
    "annotations.list": lambda w: {"datasetId": w.dataset_id},
    # The annotator's job holds image_ids[:3], so it may annotate image_ids[1].
    "annotations.bulk.add": lambda w: {
        "datasetId": w.dataset_id,
        "annotations": [{"imageId": w.image_ids[1], "annotation": LEMON_ANNOTATION}],
    },
    "annotations.bulk.copy": lambda w: {"srcImageIds": [w.image_ids[0]], "destImageIds": [w.image_ids[1]]},
    "jobs.add": lambda w: {
        "name": "made by a role",
        "datasetId": w.dataset_id,
        "userIds": [w.user_ids["annotator"]],
        "meta": {"classes": ["lemon"], "entityIds": list(w.image_ids[3:])},
    },
    "jobs.info": lambda w: {"id": w.job_id},
    "jobs.list": lambda w: {"teamId": w.team_id},
    "jobs.stats": lambda w: {"id": w.job_id},
    "jobs.editInfo": lambda w: {"id": w.job_id, "name": "renamed job"},
    "jobs.stop": lambda w: {"id": w.job_id},
    "jobs.archive": lambda w: {"id": w.job_id},
    "jobs.bulk.remove": lambda w: {"ids": [w.job_id]},
    "jobs.set-status": lambda w: {"id": w.job_id, "status": "stopped"},
    "jobs.entities.update-review-status": lambda w: {
        "jobId": w.job_id,
        "entityId": w.image_ids[1],
        "status": "accepted",
    },
    "jobs.reject": lambda w: {"id": w.job_id, "mode": "all"},
    "jobs.restart": lambda w: {"id": w.job_id},
    "jobs.split": lambda w: {"id": w.job_id, "entityIds": [w.image_ids[2]], "userId": w.bystander_id},
    "labeling-queues.add": lambda w: queue_body(w, "queue made by a role"),
    "labeling-queues.info": lambda w: {"id": spare_queue(w)},
    "labeling-queues.list": lambda w: {"teamId": w.team_id},
    "labeling-queues.set-status": lambda w: {"id": spare_queue(w), "status": "stopped"},
    "labeling-queues.stats.entities": lambda w: {"id": spare_queue(w), "entityStatus": [None]},
    "labeling-queues.entities.take": lambda w: {"id": spare_queue(w), "count": 2},
    "webhooks.add": lambda w: webhook_body(w.team_id),
    "webhooks.list": lambda w: {"teamId": w.team_id},
    "webhooks.info": lambda w: {"id": w.webhook_id},
    "webhooks.update": lambda w: {"id": w.webhook_id, "meta": {"retriesCount": 1}},
    "webhooks.bulk.remove": lambda w: {"ids": [w.webhook_id]},
    "webhooks.test": lambda w: {"teamId": w.team_id, "id": w.webhook_id, "payload": {"jobId": w.job_id}},
}
"""A valid body for every API method, aimed at the world's objects (a test checks it covers the registry)."""


def fingerprint(store: Store) -> str:
    """A digest of every row of every table: equal digests mean nothing was written."""
    digest = hashlib.blake2b(digest_size=16)
    with store.transaction(write=False) as db:
        tables = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        for table in tables:
            digest.update(table.encode())
            columns = _BACKGROUND_COLUMNS.get(table, "*")
            rows = db.execute(f'SELECT {columns} FROM "{table}"')  # noqa: S608 - names from the schema
            for text in sorted(repr(row) for row in rows):  # some tables have no rowid to order by
                digest.update(text.encode())
    return digest.hexdigest()
