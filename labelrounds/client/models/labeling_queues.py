"""Labeling queues (`labeling-queues.*`): the queue with its progress counters, and its images' queue status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

from labelrounds.client.models.base import JsonObject, ListOrNull, WireEnum, WireModel
from labelrounds.client.models.jobs import WireJobStatus


class QueueEntityStatus(WireEnum):
    """An image's status in a queue; pending (in the queue, nobody's) is None on the wire, not a member."""

    NONE = "none"
    """Taken by a labeler, being labeled."""
    DONE = "done"
    """Submitted, on review."""
    ACCEPTED = "accepted"


WireQueueEntityStatus = Annotated[QueueEntityStatus, BeforeValidator(QueueEntityStatus.from_wire)]


class QueuePerson(WireModel):
    """A labeler or reviewer of a queue (`labelers[*]`, `reviewers[*]`)."""

    id: int
    login: str | None = None


class QueueJobRef(WireModel):
    """One labeler's job in a queue (`jobs[*]`)."""

    id: int
    user_id: int | None = None
    status: WireJobStatus | None = None


class LabelingQueueInfo(WireModel):
    """A labeling queue (`labeling-queues.info`, and each `labeling-queues.list` entity).

    The counters partition the images: `pending + in_progress + annotated == entities`, and `annotated` (on
    review or accepted) includes `accepted`.
    """

    id: int
    name: str
    status: WireJobStatus
    team_id: int | None = None
    workspace_id: int | None = None
    project_id: int | None = None
    dataset_id: int | None = None
    collection_id: int | None = None
    created_by: int | None = None
    readme: str | None = None
    description: str | None = None
    labelers: ListOrNull[QueuePerson] = []
    reviewers: ListOrNull[QueuePerson] = []
    jobs: ListOrNull[QueueJobRef] = []
    created_at: datetime | None = None
    finished_at: datetime | None = None
    disabled: bool = False
    meta: JsonObject = {}
    queue_meta: JsonObject = {}
    entities_count: int = 0
    accepted_count: int = 0
    annotated_count: int = 0
    in_progress_count: int = 0
    pending_count: int = 0
    #: Images on review (a sandbox extension; derived as annotated minus accepted when a server omits it).
    on_review_count: int | None = None

    @property
    def job_ids(self) -> list[int]:
        """The ids of the labelers' jobs."""
        return [job.id for job in self.jobs]

    @property
    def all_accepted(self) -> bool:
        """Whether every image of a non-empty queue is accepted (the queue's work is over)."""
        return self.entities_count > 0 and self.accepted_count == self.entities_count


class QueueEntity(WireModel):
    """One image of a queue (`labeling-queues.stats.entities` `images[*]`); `status` None means pending."""

    id: int
    name: str | None = None
    status: WireQueueEntityStatus | None = None
    job_id: int | None = None
    labeler_id: int | None = None


class QueueEntitiesPage(WireModel):
    """One reply of `labeling-queues.stats.entities`: a page of images and the total matching."""

    images: ListOrNull[QueueEntity] = []
    total: int


class TakenImage(WireModel):
    """An image a labeler took from a queue."""

    id: int
    name: str | None = None


class TakenImages(WireModel):
    """The reply of `labeling-queues.entities.take`: the caller's job and the images now in it (maybe none)."""

    job_id: int
    entities: ListOrNull[TakenImage] = []
