"""Labeling jobs: creation (split, validation before write), info/list shapes and filters, admin actions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.server import SandboxServer

from .api_client import Api

MakeUser = Callable[..., Api]
LEMON_IDS = list(range(1002, 1008))


@pytest.fixture
def labelers(make_user: MakeUser) -> list[Api]:
    return [make_user(f"labeler_{k}") for k in (1, 2, 3, 4)]


def add(admin: Api, user_ids: list[int], **body: object) -> list[int]:
    reply = admin.ok(
        "jobs.add",
        {"name": "lemons", "datasetId": 1001, "userIds": user_ids, "meta": {"classes": ["lemon"]}, **body},
    )
    return [item["id"] for item in reply]


def snapshot(sandbox: SandboxServer) -> tuple[int, ...]:
    """Row counts that a rejected request must leave unchanged."""
    assert sandbox.store is not None
    with sandbox.store.transaction(write=False) as db:
        return tuple(
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for table in (
                "jobs",
                "job_entities",
                "users",
                "members",
                "object_classes",
                "tag_metas",
                "activity",
            )
        )


def test_job_info_has_every_key_the_sdk_requires(admin: Api, labelers: list[Api]) -> None:
    (job_id,) = add(
        admin,
        [labelers[0].user_id],
        readme="annotation manual",
        description="short description",
        meta={
            "classes": ["kiwi"],
            "projectTags": ["size", "origin"],
            "imageFiguresLimit": 10,
            "imageTagsLimit": 20,
            "entityIds": [1002, 1003, 1004],
            "dynamicClasses": False,
            "dynamicTags": False,
            "allowRestore": False,
            "guide": 3,
        },
    )
    job = admin.job(job_id)
    assert job["meta"]["classes"] == [{"id": job["meta"]["classes"][0]["id"], "name": "kiwi"}]
    assert [tag["name"] for tag in job["meta"]["projectTags"]] == ["size", "origin"]
    assert (job["meta"]["imageTags"], job["meta"]["range"], job["meta"]["guide"]) == (
        [],
        {"start": None, "end": None},
        3,
    )
    assert (job["meta"]["imageFiguresLimit"], job["meta"]["imageTagsLimit"]) == (10, 20)
    assert "entityIds" not in job["meta"]
    unlimited = admin.job(
        add(admin, [labelers[1].user_id], meta={"imageFiguresLimit": 0, "imageTagsLimit": 0})[0]
    )
    assert (unlimited["meta"]["imageFiguresLimit"], unlimited["meta"]["imageTagsLimit"]) == (None, None)
    assert job["entities"] == [
        {"id": 1002, "name": "IMG_8144.jpeg", "reviewStatus": "none"},
        {"id": 1003, "name": "IMG_4451.jpeg", "reviewStatus": "none"},
        {"id": 1004, "name": "IMG_3861.jpeg", "reviewStatus": "none"},
    ]
    expected = {
        "name": "lemons",
        "readme": "annotation manual",
        "description": "short description",
        "teamId": 8,
        "workspaceId": 9,
        "workspaceTitle": "Testing Workspace",
        "projectId": 13487,
        "projectTitle": "Lemons (Test)",
        "datasetId": 1001,
        "datasetTitle": "ds1",
        "createdBy": 7,
        "managerLogin": "cxnt",
        "userId": labelers[0].user_id,
        "labelerLogin": "labeler_1",
        "reviewerId": 7,
        "reviewerLogin": "cxnt",
        "status": "pending",
        "disabled": False,
        "startedAt": None,
        "finishedAt": None,
        "customData": {},
        "imagesCount": 3,
        "finishedImagesCount": 0,
        "acceptedImagesCount": 0,
        "rejectedImagesCount": 0,
        "progressImagesCount": 0,
        "labelingQueueId": None,
    }
    assert {key: job[key] for key in expected} == expected
    assert job["createdAt"].endswith("Z")


def test_several_users_split_the_images_evenly_in_id_order(admin: Api, labelers: list[Api]) -> None:
    job_ids = add(admin, [labeler.user_id for labeler in labelers], customData={"round": "r1"})
    jobs = [admin.job(job_id) for job_id in job_ids]
    assert [[entity["id"] for entity in job["entities"]] for job in jobs] == [
        [1002, 1003],
        [1004, 1005],
        [1006],
        [1007],
    ]
    assert [job["name"] for job in jobs] == ["lemons", "lemons (#2)", "lemons (#3)", "lemons (#4)"]
    assert [job["labelerLogin"] for job in jobs] == ["labeler_1", "labeler_2", "labeler_3", "labeler_4"]
    assert all(job["customData"] == {"round": "r1"} for job in jobs)


def test_range_and_tag_filters_select_from_the_whole_dataset(admin: Api, labelers: list[Api]) -> None:
    ranged = add(admin, [labelers[0].user_id, labelers[1].user_id], meta={"range": {"start": 2, "end": 4}})
    assert [admin.job(job_id)["imagesCount"] for job_id in ranged] == [2, 1]
    assert [e["id"] for e in admin.job(ranged[0])["entities"]] == [1003, 1004]
    excluded = add(admin, [labelers[0].user_id], meta={"imageTags": [{"name": "origin", "positive": False}]})
    assert admin.job(excluded[0])["imagesCount"] == 6
    included = add(admin, [labelers[0].user_id], meta={"imageTags": [{"name": "size", "positive": True}]})
    assert admin.job(included[0])["imagesCount"] == 0  # sandbox images carry no tags


@pytest.mark.parametrize(
    ("change", "status", "complaint"),
    [
        ({"datasetId": 999_999}, 404, "Dataset 999999 not found"),
        ({"meta": {"classes": ["banana"]}}, 400, "Unknown classes in project 13487: banana"),
        ({"meta": {"projectTags": ["weight"]}}, 400, "Unknown tags in project 13487: weight"),
        ({"meta": {"imageTags": [{"name": "color", "positive": True}]}}, 400, "Unknown tags"),
        (
            {"meta": {"entityIds": [1002, 5]}},
            400,
            "1 of the entityIds are not images of dataset 1001, e.g. [5]",
        ),
        ({"meta": {"range": {"start": 4, "end": 2}}}, 400, "start 4 is after end 2"),
        ({"userIds": [424242]}, 400, "users [424242] are not members"),
        ({"userIds": []}, 400, "userIds"),
        ({"reviewerId": 424242}, 400, "reviewerId"),
        ({"name": ""}, 400, "name"),
        ({"customData": {"n": 2**80}}, 400, "customData cannot be stored"),
        ({"meta": {"entityIds": ["x"]}}, 400, "entityIds"),
    ],
)
def test_invalid_job_requests_write_nothing(
    sandbox: SandboxServer, admin: Api, labelers: list[Api], change: dict, status: int, complaint: str
) -> None:
    body = {
        "name": "bad",
        "datasetId": 1001,
        "userIds": [labelers[0].user_id],
        "meta": {"classes": ["lemon"]},
    }
    before = snapshot(sandbox)
    assert complaint in admin.error("jobs.add", body | change, status)["message"]
    assert snapshot(sandbox) == before


def test_duplicate_labelers_are_refused(sandbox: SandboxServer, admin: Api, labelers: list[Api]) -> None:
    before = snapshot(sandbox)
    admin.error("jobs.add", {"name": "x", "datasetId": 1001, "userIds": [labelers[0].user_id] * 2}, 400)
    assert snapshot(sandbox) == before


def test_jobs_list_filters_as_the_sdk_sends_them(
    admin: Api, labelers: list[Api], make_user: MakeUser
) -> None:
    reviewer = make_user("rita", Role.REVIEWER)
    first = add(admin, [labelers[0].user_id])[0]
    second = add(admin, [labelers[1].user_id], reviewerId=reviewer.user_id)[0]
    admin.ok("jobs.set-status", {"id": first, "status": "completed"})

    def ids(*conditions: dict, **extra: object) -> list[int]:
        return admin.job_ids(8, filter=list(conditions), **extra)

    assert ids() == [first, second]
    assert ids(
        {"field": "createdBy", "operator": "=", "value": 7},
        {"field": "userId", "operator": "=", "value": labelers[1].user_id},
    ) == [second]
    assert ids({"field": "reviewerId", "operator": "=", "value": reviewer.user_id}) == [second]
    assert ids(
        {"field": "projectId", "operator": "=", "value": 13487},
        {"field": "datasetId", "operator": "=", "value": 1001},
    ) == [first, second]
    assert ids({"field": "status", "operator": "!in", "value": ["completed"]}) == [second]
    assert ids({"field": "labelingQueueId", "operator": "=", "value": None}) == [first, second]
    assert ids({"field": "labelingQueueId", "operator": "in", "value": [5]}) == []
    assert ids({"field": "name", "operator": "ilike", "value": "LEMON%"}) == [first, second]
    assert ids(sort="id", sort_order="desc") == [second, first]
    page = admin.ok("jobs.list", {"teamId": 8, "fields": ["id"], "per_page": 1, "page": 2})
    assert page == {"total": 2, "perPage": 1, "pagesCount": 2, "entities": [{"id": second}]}
    listed = admin.ok("jobs.list", {"teamId": 8})["entities"][0]
    assert "entities" not in listed and set(listed["meta"]) >= {
        "classes",
        "projectTags",
        "imageTags",
        "range",
    }


def test_stop_archive_edit_remove(sandbox: SandboxServer, admin: Api, labelers: list[Api]) -> None:
    first, second, third = add(admin, [labeler.user_id for labeler in labelers[:3]])
    admin.ok("jobs.stop", {"id": first})
    stopped = admin.job(first)
    assert stopped["status"] == "stopped" and stopped["finishedAt"]
    admin.ok("jobs.archive", {"id": first})
    assert admin.job_ids(8) == [second, third]
    assert admin.job_ids(8, showDisabled=True) == [first, second, third]
    assert admin.job(first)["disabled"] is True
    admin.ok(
        "jobs.editInfo",
        {
            "id": second,
            "customData": {"k": 1},
            "userId": labelers[3].user_id,
            "reviewerId": 7,
            "name": "renamed",
        },
    )
    edited = admin.job(second)
    assert (edited["customData"], edited["labelerLogin"], edited["name"]) == (
        {"k": 1},
        "labeler_4",
        "renamed",
    )
    assert labelers[3].job_ids(8) == [second] and labelers[1].job_ids(8) == []
    admin.error("jobs.editInfo", {"id": second, "userId": 424242}, 400)
    admin.ok("jobs.bulk.remove", {"ids": [first, third]})
    admin.error("jobs.info", {"id": first}, 404)
    admin.ok("jobs.bulk.remove", {"ids": [first, third]})  # removing again is a no-op, so retries are safe
    assert admin.job_ids(8, showDisabled=True) == [second]
    assert snapshot(sandbox)[1] == 2  # the removed jobs' entities went with them
    admin.error("jobs.stop", {"id": first}, 404)


def test_job_stats(admin: Api, labelers: list[Api]) -> None:
    (job_id,) = add(
        admin, [labelers[0].user_id], meta={"classes": ["kiwi", "lemon"], "entityIds": [1002, 1003]}
    )
    admin.ok("jobs.entities.update-review-status", {"jobId": job_id, "entityId": 1003, "status": "accepted"})
    stats = admin.ok("jobs.stats", {"id": job_id})
    assert stats["job"]["id"] == job_id and stats["job"]["imagesCount"] == 2
    assert stats["job"]["finishedImagesCount"] == 1
    assert [(c["name"], c["shape"], c["color"]) for c in stats["classes"]] == [
        ("kiwi", "bitmap", "#D0021B"),
        ("lemon", "bitmap", "#50E3C2"),
    ]
    assert stats["images"]["total"] == 2
    assert [(i["id"], i["reviewStatus"]) for i in stats["images"]["images"]] == [
        (1002, "none"),
        (1003, "accepted"),
    ]


def test_ids_are_unique_across_kinds_and_continue_after_the_seed(admin: Api, labelers: list[Api]) -> None:
    job_ids = add(admin, [labelers[0].user_id, labelers[1].user_id])
    user_ids = [labeler.user_id for labeler in labelers]
    class_ids = [c["id"] for c in admin.ok("projects.meta", {"id": 13487})["classes"]]
    everything = [7, 8, 9, 13487, 1001, *LEMON_IDS, *class_ids, *user_ids, *job_ids]
    assert len(set(everything)) == len(everything)
    assert min(user_ids + job_ids) > max(class_ids) > 1007
