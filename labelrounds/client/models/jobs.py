"""Labeling jobs: statuses, the job info with its meta and entities, and job statistics."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from labelrounds.client.models.base import JsonObject, ListOrNull, WireEnum, WireModel


class JobStatus(WireEnum):
    """Status of a labeling job; one the server added since is kept (`known` False) and counts as none of these."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ON_REVIEW = "on_review"
    COMPLETED = "completed"
    STOPPED = "stopped"
    REVIEW_COMPLETED = "review_completed"


class ReviewStatus(WireEnum):
    """Review status of one image (entity) of a job; an unknown one is kept and is neither accepted nor rejected."""

    NONE = "none"
    DONE = "done"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    #: Accepted by the reviewer, waiting for the quality check (jobs with `enableIntermediateReview`). Not final:
    #: it counts as neither accepted nor rejected until the quality checker decides.
    QUALITY_CHECK_ACCEPTED = "quality_check_accepted"


#: Statuses as read from a reply: unknown values are kept instead of failing the whole reply.
WireJobStatus = Annotated[JobStatus, BeforeValidator(JobStatus.from_wire)]
WireReviewStatus = Annotated[ReviewStatus, BeforeValidator(ReviewStatus.from_wire)]


class RejectMode(StrEnum):
    """Which images `jobs.reject` rejects."""

    ALL = "all"
    UNMARKED = "unmarked"


class NamedRef(WireModel):
    """A class or tag a job labels (`meta.classes[*]`, `meta.projectTags[*]`); `title` stands in for `name`."""

    name: str
    id: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _title_as_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None and data.get("title") is not None:
            return {**data, "name": data["title"]}
        return data


class ImageTagCondition(NamedRef):
    """An include (`positive`) or exclude condition on an image tag (`meta.imageTags[*]`)."""

    positive: bool


class ImageRange(WireModel):
    """`meta.range`: both keys required, either may be null."""

    start: int | None
    end: int | None


class JobMeta(WireModel):
    """A job's `meta`: what to label, limits and filters (classes, projectTags, imageTags, range required)."""

    classes: list[NamedRef]
    project_tags: list[NamedRef]
    image_tags: list[ImageTagCondition]
    range: ImageRange
    image_figures_limit: int | None = None
    image_tags_limit: int | None = None
    dynamic_classes: bool | None = None
    dynamic_tags: bool | None = None
    guide: int | None = None


class JobEntity(WireModel):
    """One image of a job and its review status (`entities[*]`, in `jobs.info` only)."""

    id: int
    name: str | None = None
    review_status: WireReviewStatus


class LabelingJobInfo(WireModel):
    """A labeling job (`jobs.info`, and each `jobs.list` entity, which carries no `entities`)."""

    id: int
    name: str
    status: WireJobStatus
    meta: JobMeta
    readme: str | None = None
    description: str | None = None
    team_id: int | None = None
    workspace_id: int | None = None
    workspace_title: str | None = None
    project_id: int | None = None
    project_title: str | None = None
    dataset_id: int | None = None
    dataset_title: str | None = None
    created_by: int | None = None
    manager_login: str | None = None
    user_id: int | None = None
    labeler_login: str | None = None
    reviewer_id: int | None = None
    reviewer_login: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: When the labeler last submitted the job for review (the annotation phase ended); None while labeling.
    annotation_finished_at: datetime | None = None
    #: When the review ended (the job was completed); None until then.
    review_finished_at: datetime | None = None
    disabled: bool = False
    labeling_queue_id: int | None = None
    labeling_exam_id: int | None = None
    priority: int | None = None
    custom_data: JsonObject = Field(default_factory=dict)
    images_count: int = 0
    finished_images_count: int = 0
    accepted_images_count: int = 0
    rejected_images_count: int = 0
    progress_images_count: int = 0
    entities: list[JobEntity] | None = None

    @property
    def classes_to_label(self) -> list[str]:
        """Names of the classes to label."""
        return [ref.name for ref in self.meta.classes]

    @property
    def tags_to_label(self) -> list[str]:
        """Names of the project tags to label."""
        return [ref.name for ref in self.meta.project_tags]

    @property
    def include_images_with_tags(self) -> list[str]:
        """Tags an image must have to be in the job."""
        return [condition.name for condition in self.meta.image_tags if condition.positive]

    @property
    def exclude_images_with_tags(self) -> list[str]:
        """Tags that keep an image out of the job."""
        return [condition.name for condition in self.meta.image_tags if not condition.positive]

    def entity_ids(self, review_status: ReviewStatus | None = None) -> list[int]:
        """Ids of the job's images, optionally only those with `review_status` (needs `jobs.info` entities)."""
        if self.entities is None:
            raise ValueError(f"job {self.id} was listed without entities; fetch it with get_job()")
        return [
            entity.id
            for entity in self.entities
            if review_status is None or entity.review_status == review_status
        ]


class JobSplit(WireModel):
    """The reply of the sandbox's `jobs.split`: the new job, the images moved into it, those left (touched)."""

    id: int
    entity_ids: ListOrNull[int] = Field(default_factory=list)
    skipped_ids: ListOrNull[int] = Field(default_factory=list)


class TagStat(WireModel):
    """Per-tag usage in a job (`job.tagsStats[*]` of `jobs.stats`)."""

    id: int | None = None
    parent_id: int | None = None
    name: str | None = None
    color: str | None = None
    images: int | None = None
    figures: int | None = None


class JobStatsSummary(WireModel):
    """The `job` part of `jobs.stats`."""

    id: int
    name: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    images_count: int | None = None
    finished_images_count: int | None = None
    annotation_duration: float | None = None
    editing_duration: float | None = None
    tags_stats: ListOrNull[TagStat] = Field(default_factory=list)


class ClassStat(WireModel):
    """Per-class usage in a job (`classes[*]` of `jobs.stats`)."""

    id: int | None = None
    name: str | None = None
    color: str | None = None
    shape: str | None = None
    images_count: int | None = None
    labels_count: int | None = None
    total_duration: float | None = None
    avg_duration: float | None = None


class ImageStat(WireModel):
    """Per-image figures and review status (`images.images[*]` of `jobs.stats`)."""

    id: int
    name: str | None = None
    review_status: WireReviewStatus
    annotation_duration: float | None = None
    total_duration: float | None = None
    labels_count: int | None = None


class ImageStats(WireModel):
    """The `images` part of `jobs.stats`."""

    total: int
    images: list[ImageStat]


class JobStats(WireModel):
    """`jobs.stats`: job summary, per-class and per-image statistics.

    `images` is None when the reply left it out (the server sends it only with entity statistics on).
    """

    job: JobStatsSummary
    classes: ListOrNull[ClassStat] = Field(default_factory=list)
    images: ImageStats | None = None
