"""Image copies and removals, dataset creation and removal: what the listings show afterwards, job counters that
follow removed images, refusals that write nothing, and a ground truth the API never serves."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from security.world import fingerprint

from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.truth import TRUTH_PATH

from .api_client import Api

PROJECT, DATASET = 13487, 1001
# The lemons seed's images (id, name, size in bytes), straight from the seed's table.
SEEDED = (
    (1002, "IMG_8144.jpeg", 155_790),
    (1003, "IMG_4451.jpeg", 136_722),
    (1004, "IMG_3861.jpeg", 148_110),
    (1005, "IMG_2084.jpeg", 142_845),
    (1006, "IMG_1836.jpeg", 160_301),
    (1007, "IMG_0748.jpeg", 139_027),
)
# Objects per lemons image in the seeded ground truth (kiwi and lemon masks), by image name.
TRUTH_OBJECTS = {
    "IMG_8144.jpeg": 3,
    "IMG_4451.jpeg": 3,
    "IMG_3861.jpeg": 2,
    "IMG_2084.jpeg": 4,
    "IMG_1836.jpeg": 2,
    "IMG_0748.jpeg": 3,
}


def names_in(api: Api, dataset: int) -> list[str]:
    return [image["name"] for image in api.ok("images.list", {"datasetId": dataset})["entities"]]


def test_copies_land_in_order_with_the_source_picture_and_no_annotation(admin: Api) -> None:
    target = admin.ok("datasets.add", {"projectId": PROJECT, "name": "gold", "parentId": None})
    assert (target["name"], target["imagesCount"], target["projectId"]) == ("gold", 0, PROJECT)
    copies = admin.ok(
        "images.bulk.add",
        {
            "datasetId": target["id"],
            "images": [{"title": "g_2.jpeg", "imageId": 1003}, {"title": "g_1.jpg", "imageId": 1002}],
        },
    )
    assert [(copy["name"], copy["size"], copy["datasetId"]) for copy in copies] == [
        ("g_2.jpeg", SEEDED[1][2], target["id"]),
        ("g_1.jpg", SEEDED[0][2], target["id"]),
    ]
    source = admin.ok("images.info", {"id": 1003})
    assert copies[0]["hash"] == source["hash"] and copies[0]["id"] not in {row[0] for row in SEEDED}
    assert names_in(admin, target["id"]) == ["g_2.jpeg", "g_1.jpg"]
    assert names_in(admin, DATASET) == [name for _, name, _ in SEEDED]
    assert admin.ok("annotations.info", {"imageId": copies[0]["id"]})["annotation"]["objects"] == []


def test_a_taken_name_is_a_nonunique_conflict_naming_the_existing_image(
    sandbox: SandboxServer, admin: Api
) -> None:
    assert sandbox.store is not None
    before = fingerprint(sandbox.store)
    body = {
        "datasetId": DATASET,
        "images": [{"title": "new.jpeg", "imageId": 1002}, {"title": "IMG_4451.jpeg", "imageId": 1002}],
    }
    reply = admin.call("images.bulk.add", body)
    assert reply.status_code == 400
    details = reply.json()["details"]
    assert details["type"] == "NONUNIQUE"
    assert [(error["name"], error["id"]) for error in details["errors"]] == [("IMG_4451.jpeg", 1003)]
    wrong_type = {"datasetId": DATASET, "images": [{"title": "copy.png", "imageId": 1002}]}
    assert ".jpeg" in admin.error("images.bulk.add", wrong_type, 400)["message"]
    assert fingerprint(sandbox.store) == before


def test_removed_images_leave_listings_annotations_and_job_counters(
    admin: Api, make_user: Callable[..., Api]
) -> None:
    labeler = make_user("rm_labeler")
    job = admin.ok(
        "jobs.add",
        {
            "name": "rm",
            "datasetId": DATASET,
            "userIds": [labeler.user_id],
            "meta": {"classes": ["lemon"], "entityIds": [1002, 1003, 1004]},
        },
    )[0]["id"]
    before = admin.job(job)
    admin.ok("images.bulk.remove", {"imageIds": [1003, 1006]})
    admin.ok("images.bulk.remove", {"imageIds": [1003]})  # already gone: a harmless repeat
    assert names_in(admin, DATASET) == [name for image_id, name, _ in SEEDED if image_id not in (1003, 1006)]
    after = admin.job(job)
    assert (before["imagesCount"], after["imagesCount"]) == (3, 2)
    assert sorted(entity["id"] for entity in after["entities"]) == [1002, 1004]
    admin.error("annotations.info", {"imageId": 1003}, 404)
    labeler.error("images.bulk.remove", {"imageIds": [1002]}, 403)


def test_datasets_are_created_once_per_name_and_removed_with_their_images(admin: Api) -> None:
    made = admin.ok(
        "datasets.add", {"projectId": PROJECT, "name": "temp", "description": "d", "customData": {"k": 1}}
    )
    assert (made["description"], made["customData"]) == ("d", {"k": 1})
    twice = admin.call("datasets.add", {"projectId": PROJECT, "name": "temp"})
    assert twice.status_code == 400 and twice.json()["details"]["type"] == "NONUNIQUE"
    child = admin.ok("datasets.add", {"projectId": PROJECT, "name": "temp", "parentId": made["id"]})
    copy = admin.ok(
        "images.bulk.add", {"datasetId": child["id"], "images": [{"title": "c.jpeg", "imageId": 1002}]}
    )[0]
    admin.ok("datasets.archive", {"id": made["id"]})
    listed = [
        dataset["id"]
        for dataset in admin.ok("datasets.list", {"projectId": PROJECT, "recursive": True})["entities"]
    ]
    assert listed == [DATASET]
    admin.error("images.info", {"id": copy["id"]}, 404)
    admin.error("datasets.archive", {"id": made["id"]}, 404)
    admin.ok("datasets.remove.permanently", {"datasets": [{"id": made["id"]}]})  # gone already: skipped


def test_a_dataset_with_labeling_jobs_is_not_removed(
    sandbox: SandboxServer, admin: Api, make_user: Callable[..., Api]
) -> None:
    labeler = make_user("keep_labeler")
    job = admin.ok(
        "jobs.add",
        {"name": "keep", "datasetId": DATASET, "userIds": [labeler.user_id], "meta": {"classes": ["kiwi"]}},
    )[0]["id"]
    assert sandbox.store is not None
    before = fingerprint(sandbox.store)
    assert str(job) in admin.error("datasets.archive", {"id": DATASET}, 400)["message"]
    assert fingerprint(sandbox.store) == before
    manager = make_user("ds_manager", Role.MANAGER)
    manager.error("datasets.remove.permanently", {"datasets": [{"id": DATASET}]}, 403)


def test_the_lemons_truth_is_served_to_the_instance_admin_only(
    sandbox: SandboxServer, http: httpx.Client, admin: Api, make_user: Callable[..., Api]
) -> None:
    reply = http.get(TRUTH_PATH, params={"dataset_id": DATASET}, headers={"x-api-key": admin.token or ""})
    assert reply.status_code == 200
    truth = reply.json()
    assert [(item["imageId"], item["imageName"]) for item in truth] == [
        (image_id, name) for image_id, name, _ in SEEDED
    ]
    assert {item["imageName"]: len(item["annotation"]["objects"]) for item in truth} == TRUTH_OBJECTS
    assert {obj["classTitle"] for item in truth for obj in item["annotation"]["objects"]} == {"kiwi", "lemon"}
    # The API never serves it: the seeded images carry no annotation.
    listed = admin.ok("annotations.list", {"datasetId": DATASET})["entities"]
    assert all(item["annotation"]["objects"] == [] for item in listed)
    manager = make_user("truth_manager", Role.MANAGER)
    denied = http.get(TRUTH_PATH, params={"dataset_id": DATASET}, headers={"x-api-key": manager.token or ""})
    assert denied.status_code == 403 and denied.json()["error"] == "Forbidden"
    assert http.get(TRUTH_PATH, params={"dataset_id": DATASET}).status_code == 401


def test_a_copy_shares_its_source_pictures_truth(
    sandbox: SandboxServer, http: httpx.Client, admin: Api
) -> None:
    target = admin.ok("datasets.add", {"projectId": PROJECT, "name": "gold"})["id"]
    admin.ok("images.bulk.add", {"datasetId": target, "images": [{"title": "x.jpeg", "imageId": 1005}]})
    headers = {"x-api-key": admin.token or ""}
    copied = http.get(TRUTH_PATH, params={"dataset_id": target}, headers=headers).json()
    source = http.get(TRUTH_PATH, params={"dataset_id": DATASET}, headers=headers).json()
    assert [item["imageName"] for item in copied] == ["x.jpeg"]
    assert copied[0]["annotation"] == next(item["annotation"] for item in source if item["imageId"] == 1005)
    assert len(copied[0]["annotation"]["objects"]) == TRUTH_OBJECTS["IMG_2084.jpeg"]
