"""Replies in the real server's shapes: unknown statuses and roles are kept and are none of the known states."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from labelrounds.client.models import (
    ImageStats,
    JobEntity,
    JobStats,
    JobStatus,
    LabelingJobInfo,
    ReviewStatus,
    RoleInfo,
    UserInfo,
    WireJobStatus,
)
from labelrounds.round_spec import TargetStatus
from labelrounds.steps.gate import REACHED_STATUSES, JobProgress
from labelrounds.steps.rework import FINISHED_STATUSES
from labelrounds.steps.users import LABELING_ROLES, REVIEWING_ROLES

from . import payloads


def test_a_job_with_quality_check_and_unknown_review_statuses_parses_whole() -> None:
    job = LabelingJobInfo.model_validate(payloads.JOB_WITH_QUALITY_CHECK)
    statuses = [entity.review_status for entity in job.entities or ()]
    assert [status.value for status in statuses] == [
        "quality_check_accepted",
        "rejected",
        payloads.INVENTED_REVIEW_STATUS,
    ]
    assert [status.known for status in statuses] == [True, True, False]
    # Only the rejected image is rejected, nothing is accepted: the other two wait for a later decision.
    assert job.entity_ids(ReviewStatus.REJECTED) == [1003]
    assert job.entity_ids(ReviewStatus.ACCEPTED) == []
    assert job.entity_ids() == [1002, 1003, 1004]


def test_phase_timestamps_are_read() -> None:
    job = LabelingJobInfo.model_validate(payloads.JOB_WITH_QUALITY_CHECK)
    assert job.annotation_finished_at == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    assert job.review_finished_at == datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    fresh = LabelingJobInfo.model_validate(payloads.JOB)  # a pending job: the keys are absent
    assert (fresh.annotation_finished_at, fresh.review_finished_at) == (None, None)


def test_an_unknown_job_status_is_kept_and_is_no_known_status() -> None:
    job = LabelingJobInfo.model_validate(payloads.JOB_IN_INVENTED_STATUS)
    assert job.status == payloads.INVENTED_JOB_STATUS and job.status.value == payloads.INVENTED_JOB_STATUS
    assert not job.status.known and isinstance(job.status, JobStatus)
    assert all(job.status != known for known in JobStatus)
    assert job.to_wire()["status"] == payloads.INVENTED_JOB_STATUS


def test_an_unknown_status_never_counts_as_reached_or_finished() -> None:
    job = LabelingJobInfo.model_validate(payloads.JOB_IN_INVENTED_STATUS)
    progress = JobProgress.of(job, TargetStatus.ON_REVIEW)
    assert not progress.reached
    assert all(job.status not in statuses for statuses in REACHED_STATUSES.values())
    assert job.status not in FINISHED_STATUSES


def test_a_stand_in_status_survives_pickle_copy_and_json() -> None:
    job = LabelingJobInfo.model_validate(payloads.JOB_IN_INVENTED_STATUS)
    for copied in (pickle.loads(pickle.dumps(job)), copy.deepcopy(job)):  # noqa: S301 - our own object
        assert copied.status == payloads.INVENTED_JOB_STATUS and not copied.status.known
    progress = JobProgress.of(job, TargetStatus.COMPLETED)
    assert JobProgress.model_validate_json(progress.model_dump_json()).status == payloads.INVENTED_JOB_STATUS
    known = pickle.loads(pickle.dumps(JobStatus.COMPLETED))  # noqa: S301 - our own object
    assert known is JobStatus.COMPLETED and known.known


def test_values_from_people_stay_strict() -> None:
    """Tolerance is for replies only: a typo in a status someone asks for is still refused."""
    with pytest.raises(ValueError, match="not a valid JobStatus"):
        JobStatus("complted")

    class Wanted(BaseModel):
        status: JobStatus

    with pytest.raises(ValidationError):
        Wanted(status="complted")  # type: ignore[arg-type]


def test_a_non_string_status_is_still_a_shape_error() -> None:
    class Listed(BaseModel):
        status: WireJobStatus

    with pytest.raises(ValidationError):
        Listed.model_validate({"status": 3})


def test_stats_without_images_parse() -> None:
    stats = JobStats.model_validate(payloads.JOB_STATS_WITHOUT_IMAGES)
    assert stats.images is None and stats.job.id == 1019 and stats.classes[0].name == "kiwi"


def test_stats_images_with_quality_check_and_unknown_statuses() -> None:
    payload = copy.deepcopy(payloads.JOB_STATS)
    images = payload["images"]["images"]
    images[0]["reviewStatus"] = "quality_check_accepted"
    images[2]["reviewStatus"] = payloads.INVENTED_REVIEW_STATUS
    stats = JobStats.model_validate(payload)
    assert stats.images is not None
    assert [image.review_status.known for image in stats.images.images] == [True, True, False]


def test_unknown_roles_parse_and_allow_no_part() -> None:
    member = UserInfo.model_validate(payloads.MEMBER_WITH_INVENTED_ROLE)
    detailed = UserInfo.model_validate(payloads.USER_WITH_INVENTED_TEAM_ROLE)
    membership = detailed.membership(8)
    assert member.role == payloads.INVENTED_ROLE
    assert membership is not None and membership.role == payloads.INVENTED_ROLE
    assert RoleInfo.model_validate(payloads.INVENTED_ROLE_INFO).role == payloads.INVENTED_ROLE
    assert payloads.INVENTED_ROLE not in LABELING_ROLES and payloads.INVENTED_ROLE not in REVIEWING_ROLES


def test_the_payloads_do_exercise_the_tolerance() -> None:
    """Mutant: the models as they were (plain enums, `images` required) refuse these payloads."""

    class StrictJob(LabelingJobInfo):
        status: JobStatus  # type: ignore[assignment]

    class StrictEntity(JobEntity):
        review_status: ReviewStatus  # type: ignore[assignment]

    class StrictStats(JobStats):
        images: ImageStats  # type: ignore[assignment]

    with pytest.raises(ValidationError, match="status"):
        StrictJob.model_validate(payloads.JOB_IN_INVENTED_STATUS)
    with pytest.raises(ValidationError, match="review_status|reviewStatus"):
        StrictEntity.model_validate(payloads.JOB_WITH_QUALITY_CHECK["entities"][2])
    with pytest.raises(ValidationError, match="images"):
        StrictStats.model_validate(payloads.JOB_STATS_WITHOUT_IMAGES)
