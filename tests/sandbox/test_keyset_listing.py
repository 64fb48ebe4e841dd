"""The keyset walk the client relies on (`filter: id > last id`, sorted by id, always page 1) works on `jobs.list`
and `images.list`: `total` counts the rest of the listing, and walking it gives the plain listing, each item once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labelrounds.sandbox.server import SandboxServer

from .api_client import Api

LEMON_IMAGE_IDS = [1002, 1003, 1004, 1005, 1006, 1007]


def keyset_walk(api: Api, method: str, body: dict[str, Any], per_page: int) -> tuple[list[int], list[int]]:
    """Walk a listing by keyset; the ids listed and the `total` of each page."""
    ids: list[int] = []
    totals: list[int] = []
    while True:
        after = [{"field": "id", "operator": ">", "value": ids[-1]}] if ids else []
        page = api.ok(method, {**body, "filter": [*body["filter"], *after], "page": 1, "per_page": per_page})
        ids += [entity["id"] for entity in page["entities"]]
        totals.append(page["total"])
        if len(page["entities"]) >= page["total"]:
            return ids, totals


def test_images_list_walks_by_keyset(sandbox: SandboxServer, admin: Api) -> None:
    body = {"datasetId": sandbox.dataset_id, "filter": [], "sort": "id", "sort_order": "asc"}
    ids, totals = keyset_walk(admin, "images.list", body, per_page=4)
    assert ids == LEMON_IMAGE_IDS
    assert totals == [6, 2]


def test_jobs_list_walks_by_keyset_with_other_filters(
    sandbox: SandboxServer, admin: Api, make_user: Callable[..., Api]
) -> None:
    labelers = [make_user(f"keyset_{n}") for n in range(7)]
    body = {"name": "keyset", "datasetId": sandbox.dataset_id, "userIds": [user.user_id for user in labelers]}
    created = [job["id"] for job in admin.ok("jobs.add", {**body, "meta": {"entityIds": []}})]
    admin.ok("jobs.archive", {"id": created[3]})

    project = {"field": "projectId", "operator": "=", "value": sandbox.project_id}
    listing = {
        "teamId": sandbox.team_id,
        "showDisabled": True,
        "filter": [project],
        "sort": "id",
        "sort_order": "asc",
    }
    ids, totals = keyset_walk(admin, "jobs.list", listing, per_page=3)
    assert ids == sorted(created)
    assert totals == [7, 4, 1]

    # Other filters still apply with the keyset condition: the archived job is left out without showDisabled.
    ids, totals = keyset_walk(admin, "jobs.list", {**listing, "showDisabled": False}, per_page=3)
    assert ids == sorted(set(created) - {created[3]})
    assert totals == [6, 3]
