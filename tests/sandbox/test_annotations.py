"""Annotations on the wire: what is written comes back (objects, geometry, tags, writer, ids), bad input is
refused before anything is written, and only the right people may write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from security.world import fingerprint

from labelrounds.sandbox.bitmaps import ellipse_mask, encode_mask
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.server import SandboxServer

from .api_client import Api

# The lemons seed: dataset 1001 with images 1002..1007 (1067 x 800), classes kiwi and lemon (bitmap).
DATASET, IMAGES = 1001, (1002, 1003, 1004, 1005, 1006, 1007)
WIDTH, HEIGHT = 1067, 800
MASK = ellipse_mask(12, 9)


def lemon(origin: tuple[int, int], size: str = "small", mask: list[list[bool]] = MASK) -> dict[str, Any]:
    return {
        "classTitle": "lemon",
        "geometryType": "bitmap",
        "tags": [{"name": "size", "value": size}],
        "bitmap": {"origin": list(origin), "data": encode_mask(mask)},
    }


def annotation(*objects: dict[str, Any], tags: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {
        "description": "",
        "size": {"height": HEIGHT, "width": WIDTH},
        "tags": list(tags),
        "objects": list(objects),
    }


def signature(objects: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What must survive a round trip: class, geometry type, geometry and tag name/values, in order."""
    return [
        (
            item["classTitle"],
            item["geometryType"],
            repr(item.get("bitmap") or item.get("points")),
            tuple((tag["name"], tag.get("value")) for tag in item["tags"]),
        )
        for item in objects
    ]


def assert_same_objects(written: list[dict[str, Any]], read: list[dict[str, Any]]) -> None:
    """The oracle: the objects the test wrote, compared with what the server gives back."""
    assert signature(read) == signature(written)


def write(api: Api, *pairs: tuple[int, dict[str, Any]], dataset: int = DATASET) -> Any:
    body = {
        "datasetId": dataset,
        "annotations": [{"imageId": image, "annotation": ann} for image, ann in pairs],
    }
    return api.ok("annotations.bulk.add", body)


def test_written_objects_come_back_with_ids_writer_and_dates(admin: Api) -> None:
    objects = [lemon((10, 20)), lemon((500, 300), "large", ellipse_mask(40, 30))]
    write(admin, (IMAGES[0], annotation(*objects)), (IMAGES[1], annotation(objects[0])))
    one = admin.ok("annotations.info", {"imageId": IMAGES[0]})
    assert (one["imageId"], one["imageName"], one["datasetId"]) == (IMAGES[0], "IMG_8144.jpeg", DATASET)
    assert_same_objects(objects, one["annotation"]["objects"])
    assert one["annotation"]["size"] == {"height": HEIGHT, "width": WIDTH}
    ids = [item["id"] for item in one["annotation"]["objects"]]
    assert len(set(ids)) == 2 and all(isinstance(item, int) for item in ids)
    assert {item["labelerLogin"] for item in one["annotation"]["objects"]} == {admin.login}
    assert all(
        item["createdAt"] == item["updatedAt"] == one["updatedAt"] for item in one["annotation"]["objects"]
    )
    batch = admin.ok(
        "annotations.bulk.info", {"datasetId": DATASET, "imageIds": [IMAGES[1], IMAGES[0], IMAGES[2]]}
    )
    assert [item["imageId"] for item in batch] == [IMAGES[1], IMAGES[0], IMAGES[2]]
    assert_same_objects([objects[0]], batch[0]["annotation"]["objects"])
    assert batch[2]["annotation"]["objects"] == []
    listed = admin.ok("annotations.list", {"datasetId": DATASET, "per_page": 4})
    assert (listed["total"], listed["pagesCount"]) == (6, 2)
    assert [len(item["annotation"]["objects"]) for item in listed["entities"]] == [2, 1, 0, 0]


def test_the_round_trip_oracle_catches_a_dropped_or_moved_object() -> None:
    written = [lemon((10, 20)), lemon((30, 40))]
    with pytest.raises(AssertionError):
        assert_same_objects(written, written[:1])
    moved = [written[0], {**written[1], "bitmap": {**written[1]["bitmap"], "origin": [31, 40]}}]
    with pytest.raises(AssertionError):
        assert_same_objects(written, moved)


def test_rectangles_polygons_and_tags_round_trip_on_an_any_shape_class(admin: Api) -> None:
    meta = admin.ok("projects.meta", {"id": 13487})
    meta["classes"].append({"title": "thing", "shape": "any", "color": "#00FF00"})
    meta["tags"].append({"name": "note", "value_type": "any_string", "applicable_type": "all"})
    admin.ok("projects.meta.update", {"id": 13487, "meta": meta})
    rectangle = {
        "classTitle": "thing",
        "geometryType": "rectangle",
        "tags": [{"name": "note", "value": "boxed"}],
        "points": {"exterior": [[10, 20], [101, 201]], "interior": []},
    }
    polygon = {
        "classTitle": "thing",
        "geometryType": "polygon",
        "tags": [],
        "points": {
            "exterior": [[5.5, 5.5], [50.5, 5.5], [50.5, 40.5]],
            "interior": [[[20, 10], [30, 10], [30, 20]]],
        },
    }
    image_tags = ({"name": "note", "value": "checked"},)
    write(admin, (IMAGES[2], annotation(rectangle, polygon, tags=image_tags)))
    stored = admin.ok("annotations.info", {"imageId": IMAGES[2]})["annotation"]
    assert_same_objects([rectangle, polygon], stored["objects"])
    assert [(tag["name"], tag["value"]) for tag in stored["tags"]] == [("note", "checked")]


def test_a_write_replaces_the_whole_annotation(admin: Api) -> None:
    write(admin, (IMAGES[0], annotation(lemon((10, 20)), lemon((30, 40)))))
    write(admin, (IMAGES[0], annotation(lemon((50, 60)))))
    objects = admin.ok("annotations.info", {"imageId": IMAGES[0]})["annotation"]["objects"]
    assert_same_objects([lemon((50, 60))], objects)


BAD_OBJECTS = {
    "unknown class": ({**lemon((1, 1)), "classTitle": "plum"}, "class 'plum' is not in the project meta"),
    "shape mismatch": (
        {
            "classTitle": "kiwi",
            "geometryType": "polygon",
            "tags": [],
            "points": {"exterior": [[1, 1], [5, 1], [5, 5]]},
        },
        "takes bitmap objects, not polygon",
    ),
    "unsupported geometry": (
        {**lemon((1, 1)), "geometryType": "cuboid"},
        "geometry type 'cuboid' is not supported",
    ),
    "not zlib": ({**lemon((1, 1)), "bitmap": {"origin": [1, 1], "data": "aGVsbG8="}}, "not zlib-compressed"),
    "not base64": ({**lemon((1, 1)), "bitmap": {"origin": [1, 1], "data": "***"}}, "not valid base64"),
    "mask overflows": (lemon((1060, 10)), "overflows the 1067x800 image"),
    "bitmap without bitmap": (
        {"classTitle": "lemon", "geometryType": "bitmap", "tags": []},
        "needs 'bitmap'",
    ),
    "unknown tag": (
        {**lemon((1, 1)), "tags": [{"name": "colour", "value": "red"}]},
        "tag 'colour' is not in",
    ),
    "value not allowed": ({**lemon((1, 1)), "tags": [{"name": "size", "value": "huge"}]}, "needs one of"),
}


@pytest.mark.parametrize("case", list(BAD_OBJECTS))
def test_bad_objects_are_refused_naming_the_problem_and_nothing_is_written(
    sandbox: SandboxServer, admin: Api, case: str
) -> None:
    bad, message = BAD_OBJECTS[case]
    assert sandbox.store is not None
    before = fingerprint(sandbox.store)
    body = {
        "datasetId": DATASET,
        "annotations": [
            {"imageId": IMAGES[0], "annotation": annotation(lemon((10, 20)))},
            {"imageId": IMAGES[1], "annotation": annotation(lemon((10, 20)), bad)},
        ],
    }
    details = admin.error("annotations.bulk.add", body, 400)
    assert message in details["message"] and "annotations[1]" in details["message"]
    assert fingerprint(sandbox.store) == before


def test_out_of_bounds_points_pass_only_with_skip_bounds_validation(admin: Api) -> None:
    meta = admin.ok("projects.meta", {"id": 13487})
    meta["classes"].append({"title": "box", "shape": "rectangle", "color": "#00FF00"})
    admin.ok("projects.meta.update", {"id": 13487, "meta": meta})
    box = {
        "classTitle": "box",
        "geometryType": "rectangle",
        "tags": [],
        "points": {"exterior": [[10, 20], [2000, 30]]},
    }
    body = {"datasetId": DATASET, "annotations": [{"imageId": IMAGES[0], "annotation": annotation(box)}]}
    assert "outside the 1067x800 image" in admin.error("annotations.bulk.add", body, 400)["message"]
    admin.ok("annotations.bulk.add", {**body, "skipBoundsValidation": True})


def test_images_must_belong_to_the_dataset_and_appear_once(sandbox: SandboxServer, admin: Api) -> None:
    other = admin.ok("datasets.add", {"projectId": 13487, "name": "other"})["id"]
    body = {"datasetId": other, "annotations": [{"imageId": IMAGES[0], "annotation": annotation()}]}
    assert f"not in dataset {other}" in admin.error("annotations.bulk.add", body, 404)["message"]
    twice = {"datasetId": DATASET, "annotations": [{"imageId": IMAGES[0], "annotation": annotation()}] * 2}
    assert "duplicates" in admin.error("annotations.bulk.add", twice, 400)["message"]
    missing = admin.error("annotations.bulk.info", {"datasetId": other, "imageIds": [IMAGES[0]]}, 404)
    assert str(IMAGES[0]) in missing["message"]


def test_annotators_write_only_on_the_images_of_their_own_active_jobs(
    admin: Api, make_user: Callable[..., Api]
) -> None:
    labeler, stranger, viewer = make_user("ann_1"), make_user("ann_2"), make_user("ann_v", Role.VIEWER)
    job = admin.ok(
        "jobs.add",
        {
            "name": "ann",
            "datasetId": DATASET,
            "userIds": [labeler.user_id],
            "meta": {"classes": ["lemon"], "entityIds": list(IMAGES[:2])},
        },
    )[0]["id"]
    write(labeler, (IMAGES[0], annotation(lemon((10, 20)))))
    objects = admin.ok("annotations.info", {"imageId": IMAGES[0]})["annotation"]["objects"]
    assert [item["labelerLogin"] for item in objects] == ["ann_1"]
    outside = {"datasetId": DATASET, "annotations": [{"imageId": IMAGES[3], "annotation": annotation()}]}
    assert str(IMAGES[3]) in labeler.error("annotations.bulk.add", outside, 403)["message"]
    inside = {"datasetId": DATASET, "annotations": [{"imageId": IMAGES[1], "annotation": annotation()}]}
    stranger.error("annotations.bulk.add", inside, 403)
    viewer.error("annotations.bulk.add", inside, 403)
    # Readable by every member, writable no more once the job is stopped.
    assert viewer.ok("annotations.info", {"imageId": IMAGES[0]})["annotation"]["objects"]
    admin.ok("jobs.stop", {"id": job})
    labeler.error("annotations.bulk.add", inside, 403)


def test_bulk_copy_gives_the_targets_the_same_objects_under_new_ids(admin: Api) -> None:
    objects = [lemon((10, 20)), lemon((300, 200), "medium")]
    write(admin, (IMAGES[0], annotation(*objects)))
    admin.ok(
        "annotations.bulk.copy",
        {"srcImageIds": [IMAGES[0], IMAGES[2]], "destImageIds": [IMAGES[4], IMAGES[5]]},
    )
    source, copy, empty = admin.ok(
        "annotations.bulk.info", {"datasetId": DATASET, "imageIds": [IMAGES[0], IMAGES[4], IMAGES[5]]}
    )
    assert_same_objects(objects, copy["annotation"]["objects"])
    assert empty["annotation"]["objects"] == []
    source_ids = {item["id"] for item in source["annotation"]["objects"]}
    assert source_ids.isdisjoint(item["id"] for item in copy["annotation"]["objects"])


def test_the_reviewer_corrects_annotations_only_while_the_job_is_on_review(
    admin: Api, make_user: Callable[..., Api]
) -> None:
    labeler, reviewer = make_user("rev_labeler"), make_user("rev_reviewer", Role.REVIEWER)
    body = {
        "name": "review",
        "datasetId": DATASET,
        "userIds": [labeler.user_id],
        "reviewerId": reviewer.user_id,
        "meta": {"classes": ["lemon"], "entityIds": [IMAGES[0]]},
    }
    job = admin.ok("jobs.add", body)[0]["id"]
    fix = {
        "datasetId": DATASET,
        "annotations": [{"imageId": IMAGES[0], "annotation": annotation(lemon((5, 5)))}],
    }
    reviewer.error("annotations.bulk.add", fix, 403)
    admin.ok("jobs.set-status", {"id": job, "status": "on_review"})
    reviewer.ok("annotations.bulk.add", fix)
    labeler.error("annotations.bulk.add", fix, 403)  # the labeler's turn is over
    objects = admin.ok("annotations.info", {"imageId": IMAGES[0]})["annotation"]["objects"]
    assert [item["labelerLogin"] for item in objects] == ["rev_reviewer"]


def test_images_count_their_annotation_objects(admin: Api) -> None:
    write(admin, (IMAGES[1], annotation(lemon((10, 20)), lemon((30, 40)))))
    listed = admin.ok("images.list", {"datasetId": DATASET})["entities"]
    assert [image["labelsCount"] for image in listed] == [0, 2, 0, 0, 0, 0]
    assert admin.ok("images.info", {"id": IMAGES[1]})["labelsCount"] == 2
