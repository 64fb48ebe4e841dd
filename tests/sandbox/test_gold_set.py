"""`prepare_gold_dataset`: a gold set made through the API, its copies annotated with their truth, idempotent.

Oracle: raw reads (`datasets.list`, `images.list`, `annotations.list`) compared with the seed's known images
(`SEEDED`, `TRUTH_OBJECTS`) and with the source images' truth read raw from the admin endpoint.
"""

from __future__ import annotations

from typing import Any

import httpx

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.sandbox.gold_set import prepare_gold_dataset
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.truth import TRUTH_PATH

from .api_client import Api
from .test_dataset_contents import DATASET, SEEDED, TRUTH_OBJECTS

GOLD_IMAGES = 3


async def make_gold(sandbox: SandboxServer) -> int:
    """Run the helper as the admin on the lemons project's ds1; return the gold dataset's id."""
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    async with SuperviselyClient(settings) as api:
        gold = await prepare_gold_dataset(api, sandbox.admin_token, sandbox.project_id or 0, DATASET, GOLD_IMAGES)
    return gold.id


def gold_problems(admin: Api, http: httpx.Client, project_id: int) -> list[str]:
    """What differs from one `gold` dataset holding copies of the first seeded images with their truth."""
    named = [item for item in admin.ok("datasets.list", {"projectId": project_id})["entities"] if item["name"] == "gold"]
    if len(named) != 1:
        return [f"{len(named)} datasets named gold"]
    gold = named[0]["id"]
    images = {item["id"]: item["name"] for item in admin.ok("images.list", {"datasetId": gold})["entities"]}
    expected_names = [name for _, name, _ in SEEDED[:GOLD_IMAGES]]
    problems = []
    if sorted(images.values()) != sorted(expected_names):
        problems.append(f"gold images {sorted(images.values())}, expected {sorted(expected_names)}")
    headers = {"x-api-key": admin.token}
    source = http.get(TRUTH_PATH, params={"dataset_id": DATASET}, headers=headers).json()
    truth = {item["imageName"]: item["annotation"]["objects"] for item in source}
    for item in admin.ok("annotations.list", {"datasetId": gold})["entities"]:
        name, objects = images[item["imageId"]], item["annotation"]["objects"]
        if len(objects) != TRUTH_OBJECTS[name]:
            problems.append(f"{name}: {len(objects)} objects, the seed has {TRUTH_OBJECTS[name]}")
        if [strip(obj) for obj in objects] != [strip(obj) for obj in truth[name]]:
            problems.append(f"{name}: objects differ from the source picture's truth")
    return problems


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what the server sets on write (ids, dates, labeler)."""
    kept = ("classTitle", "geometryType", "bitmap", "points")
    tags = sorted((tag["name"], tag.get("value")) for tag in obj.get("tags", []))
    return {**{key: obj.get(key) for key in kept}, "tags": tags}


async def test_the_gold_set_holds_annotated_copies_and_a_second_run_changes_nothing(
    sandbox: SandboxServer, admin: Api, http: httpx.Client
) -> None:
    project_id = sandbox.project_id or 0
    gold_id = await make_gold(sandbox)
    assert gold_problems(admin, http, project_id) == []
    first = admin.ok("images.list", {"datasetId": gold_id})["entities"]

    assert await make_gold(sandbox) == gold_id
    assert gold_problems(admin, http, project_id) == []
    assert admin.ok("images.list", {"datasetId": gold_id})["entities"] == first
    assert len(admin.ok("images.list", {"datasetId": DATASET})["entities"]) == len(SEEDED)


async def test_mutant_a_dropped_copy_or_an_unannotated_one_fails_the_gold_oracle(
    sandbox: SandboxServer, admin: Api, http: httpx.Client
) -> None:
    project_id = sandbox.project_id or 0
    gold_id = await make_gold(sandbox)
    images = admin.ok("images.list", {"datasetId": gold_id})["entities"]
    blank = {"size": {"height": images[1]["height"], "width": images[1]["width"]}, "objects": [], "tags": []}
    admin.ok("annotations.bulk.add", {"datasetId": gold_id, "annotations": [{"imageId": images[1]["id"], "annotation": blank}]})
    assert any("objects" in problem for problem in gold_problems(admin, http, project_id))
    admin.ok("images.bulk.remove", {"imageIds": [images[0]["id"]]})
    assert any("gold images" in problem for problem in gold_problems(admin, http, project_id))
