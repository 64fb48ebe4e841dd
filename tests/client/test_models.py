"""Models parse the reference's example payloads, tolerate missing optional keys and refuse missing required ones."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from labelrounds.client.models import (
    DatasetInfo,
    ImageInfo,
    JobStats,
    JobStatus,
    LabelingJobInfo,
    ObjClass,
    ProjectInfo,
    ProjectMeta,
    ReviewStatus,
    RoleInfo,
    Shape,
    TagMeta,
    TagValueType,
    TeamInfo,
    UserInfo,
    WorkspaceInfo,
    default_color,
)

from . import payloads


def test_user_info_from_users_list_and_users_info() -> None:
    listed = UserInfo.model_validate(payloads.USER)
    assert (listed.id, listed.login, listed.role_id, listed.teams) == (1016, "labeler_1", None, None)
    assert listed.created_at == datetime(2026, 11, 28, 12, 57, 55, 512000, tzinfo=UTC)
    detailed = UserInfo.model_validate(payloads.USER_WITH_TEAMS)
    membership = detailed.membership(8)
    assert membership is not None and (membership.role_id, membership.role, membership.name) == (
        3,
        "annotator",
        "my team",
    )
    assert detailed.membership(9) is None


def test_team_membership_requires_every_key() -> None:
    broken = copy.deepcopy(payloads.USER_WITH_TEAMS)
    del broken["teams"][0]["role"]
    with pytest.raises(ValidationError, match="teams.0.role"):
        UserInfo.model_validate(broken)


def test_role_team_workspace_dataset_image() -> None:
    assert RoleInfo.model_validate(payloads.ROLE).role == "annotator"
    team = TeamInfo.model_validate(payloads.TEAM)
    assert (team.name, team.role, team.usage) == ("my team", "admin", {"plan": "free"})
    assert WorkspaceInfo.model_validate(payloads.WORKSPACE).team_id == 8
    dataset = DatasetInfo.model_validate(payloads.DATASET)
    assert (dataset.size, dataset.images_count, dataset.project_id, dataset.custom_data) == (
        1000,
        7,
        13487,
        {},
    )
    image = ImageInfo.model_validate(payloads.IMAGE)
    assert (image.name, image.ext, image.width, image.dataset_id, image.tags) == (
        "IMG_1002.jpeg",
        "jpeg",
        640,
        1001,
        [],
    )


def test_optional_keys_may_be_missing_or_null() -> None:
    assert TeamInfo.model_validate({"id": 8, "name": "t"}).usage is None
    assert TeamInfo.model_validate({"id": 8, "name": "t", "usage": "unlimited"}).usage == "unlimited"
    project = ProjectInfo.model_validate({"id": 1, "name": "p", "imagesCount": 6, "customData": None})
    assert (project.items_count, project.custom_data) == (6, {})
    image = ImageInfo.model_validate({"id": 1, "name": "a.png", "tags": None, "meta": None})
    assert (image.tags, image.meta, image.ext) == ([], {}, None)


def test_required_keys_are_enforced() -> None:
    with pytest.raises(ValidationError, match="name"):
        ImageInfo.model_validate({"id": 1, "mime": "image/png"})
    with pytest.raises(ValidationError, match="name"):
        ImageInfo.model_validate({"id": 1, "name": None})


def test_unknown_keys_are_ignored() -> None:
    team = TeamInfo.model_validate({**payloads.TEAM, "brandNewField": 1})
    assert not hasattr(team, "brandNewField") and "brandNewField" not in team.model_dump()


def test_labeling_job_info_from_the_reference_example() -> None:
    job = LabelingJobInfo.model_validate(payloads.JOB)
    assert job.status is JobStatus.PENDING
    assert (job.user_id, job.labeler_login, job.reviewer_login, job.created_by) == (
        1017,
        "labeler_2",
        "cxnt",
        7,
    )
    assert job.classes_to_label == ["kiwi"]
    assert job.tags_to_label == ["size", "origin"]
    assert (job.meta.image_figures_limit, job.meta.range.start, job.meta.range.end) == (10, None, None)
    assert job.created_at == datetime(2026, 11, 28, 12, 57, 55, 512000, tzinfo=UTC)
    assert job.started_at is None
    assert job.entity_ids() == [1002, 1003, 1004]
    assert job.entities is not None and job.entities[0].review_status is ReviewStatus.NONE
    assert job.images_count == 3


def test_job_meta_title_fallback_and_tag_conditions() -> None:
    payload = copy.deepcopy(payloads.JOB)
    payload["meta"]["classes"] = [{"id": 5, "title": "kiwi"}]
    payload["meta"]["imageTags"] = [
        {"name": "size", "positive": True},
        {"title": "origin", "positive": False},
    ]
    payload["entities"] = [{"id": 1, "reviewStatus": "rejected"}, {"id": 2, "reviewStatus": "accepted"}]
    job = LabelingJobInfo.model_validate(payload)
    assert job.classes_to_label == ["kiwi"]
    assert (job.include_images_with_tags, job.exclude_images_with_tags) == (["size"], ["origin"])
    assert job.entity_ids(ReviewStatus.REJECTED) == [1]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("meta", "range"), None),
        (("meta", "classes"), ["kiwi"]),
        (("meta", "imageTags"), [{"name": "a"}]),
        (("status",), 42),
        (("meta", "classes"), [{"id": 5}]),
    ],
)
def test_job_shapes_that_break_the_sdk_are_refused(path: tuple[str, ...], value: object) -> None:
    payload = copy.deepcopy(payloads.JOB)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        LabelingJobInfo.model_validate(payload)


def test_listed_job_has_no_entities() -> None:
    listed = {key: value for key, value in payloads.JOB.items() if key != "entities"}
    job = LabelingJobInfo.model_validate({**listed, "customData": None, "status": "review_completed"})
    assert job.entities is None and job.custom_data == {} and job.status is JobStatus.REVIEW_COMPLETED
    with pytest.raises(ValueError, match="without entities"):
        job.entity_ids()


def test_job_stats() -> None:
    stats = JobStats.model_validate(payloads.JOB_STATS)
    assert stats.job.annotation_duration == 120.0 and stats.job.tags_stats[0].name == "size"
    assert stats.classes[0].labels_count == 5
    assert stats.images.total == 3
    assert [image.review_status for image in stats.images.images] == [
        ReviewStatus.ACCEPTED,
        ReviewStatus.REJECTED,
        ReviewStatus.NONE,
    ]


def test_project_meta_round_trips_what_the_sdk_writes() -> None:
    meta = ProjectMeta.model_validate(payloads.SDK_WRITTEN_META)
    assert meta.to_wire() == payloads.SDK_WRITTEN_META
    assert meta.get_class("kiwi") is not None and meta.get_class("kiwi").shape is Shape.BITMAP
    origin = meta.get_tag("origin")
    assert origin is not None and origin.value_type is TagValueType.ANY_STRING and origin.values is None


def test_project_meta_from_projects_meta_keeps_ids_and_unknown_keys() -> None:
    payload = copy.deepcopy(payloads.PROJECT_META)
    payload["tags"][0]["default_value"] = None
    payload["tags"][0]["frame_range_min_length"] = 2
    meta = ProjectMeta.model_validate(payload)
    assert meta.classes[0].id == 22310 and meta.tags[0].id == 1014
    assert meta.to_wire() == payload


def test_project_meta_requires_classes_but_not_tags() -> None:
    with pytest.raises(ValidationError, match="classes"):
        ProjectMeta.model_validate({"tags": []})
    assert ProjectMeta.model_validate({"classes": []}).to_wire() == {"classes": [], "tags": []}


def test_project_meta_refuses_duplicates_and_bad_definitions() -> None:
    kiwi = {"title": "kiwi", "shape": "bitmap", "color": "#D0021B"}
    with pytest.raises(ValidationError, match="duplicate class names in the project meta: kiwi"):
        ProjectMeta.model_validate({"classes": [kiwi, kiwi]})
    with pytest.raises(ValidationError, match="oneof_string but has no values"):
        TagMeta(name="size", value_type=TagValueType.ONEOF_STRING)
    with pytest.raises(ValidationError, match="shape"):
        ObjClass.model_validate({**kiwi, "shape": "blob"})
    with pytest.raises(ValidationError, match="color"):
        ObjClass.model_validate({**kiwi, "color": "red"})


def test_new_definitions_get_a_stable_color_and_sdk_defaults() -> None:
    lemon = ObjClass(title="lemon", shape=Shape.POLYGON)
    assert lemon.color == default_color("lemon") and lemon.color.startswith("#") and len(lemon.color) == 7
    assert lemon.to_wire() == {
        "title": "lemon",
        "shape": "polygon",
        "color": lemon.color,
        "geometry_config": {},
        "hotkey": "",
        "description": "",
    }
    origin = TagMeta(name="origin", value_type=TagValueType.ANY_STRING, values=["ignored"])
    assert origin.values is None
    assert origin.to_wire() == {
        "name": "origin",
        "value_type": "any_string",
        "color": default_color("origin"),
        "hotkey": "",
        "applicable_type": "all",
        "classes": [],
        "target_type": "all",
    }
