"""Labeling queues: `labeling-queues.*`, the jobs of a queue, and the sandbox's `labeling-queues.entities.take`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from labelrounds.client.core import ClientCore
from labelrounds.client.endpoints.validation import labeling_meta, require_ids, require_text
from labelrounds.client.errors import PaginationError
from labelrounds.client.filters import Filter, filters_to_wire
from labelrounds.client.models import IdReply, JobStatus, LabelingJobInfo
from labelrounds.client.models.labeling_queues import (
    LabelingQueueInfo,
    QueueEntitiesPage,
    QueueEntity,
    QueueEntityStatus,
    TakenImages,
)
from labelrounds.client.pagination import DEFAULT_PER_PAGE
from labelrounds.client.parsing import parse_model

ENTITIES_PER_PAGE = 5_000


def _wire_statuses(statuses: Iterable[QueueEntityStatus | None]) -> list[str | None]:
    """Queue statuses for `entityStatus`: None (pending) stays null, the others their wire value."""
    return [None if status is None else QueueEntityStatus(status).value for status in statuses]


class LabelingQueueEndpoints(ClientCore):
    """Typed methods over labeling queues: create, read, close, per-image status, and taking images."""

    async def add_labeling_queue(
        self,
        name: str,
        dataset_id: int,
        user_ids: Iterable[int],
        reviewer_ids: Iterable[int],
        *,
        classes: Iterable[str],
        tags: Iterable[str] = (),
        entity_ids: Iterable[int] = (),
        readme: str | None = None,
        description: str | None = None,
        objects_limit: int | None = None,
        tags_limit: int | None = None,
        allow_review_own_annotations: bool = False,
    ) -> int:
        """Create a labeling queue (`labeling-queues.add`) as the SDK does; not idempotent (see `AmbiguousWriteError`).

        A taken name is refused with the server's NONUNIQUE error, whose `existing_id()` names the queue in the way.

        Args:
            name: queue name, unique among the team's active queues.
            dataset_id: the dataset whose images are labeled.
            user_ids: the labelers (one job each; images go to whoever takes them first).
            reviewer_ids: the reviewers (assigned to the labelers' jobs in turn).
            classes: names of the classes to label.
            tags: names of the project tags to label.
            entity_ids: the images of the queue; empty means the whole dataset.
            readme: instructions shown to the labelers.
            description: short description.
            objects_limit: max objects per image (None: no limit).
            tags_limit: max tags per image (None: no limit).
            allow_review_own_annotations: let a labeler review its own images (`queueMeta`).

        Returns:
            The new queue's id.
        """
        meta: dict[str, Any] = {
            **labeling_meta(classes=classes, tags=tags, objects_limit=objects_limit, tags_limit=tags_limit),
            "hideFigureAuthor": False,
        }
        if entity_ids := require_ids("entity_ids", entity_ids, allow_empty=True):
            meta["entityIds"] = entity_ids
        body: dict[str, Any] = {
            "name": require_text("name", name),
            "datasetId": dataset_id,
            "userIds": require_ids("user_ids", user_ids),
            "reviewerIds": require_ids("reviewer_ids", reviewer_ids),
            "meta": meta,
        }
        optional = {"readme": readme, "description": description}
        body.update({key: value for key, value in optional.items() if value is not None})
        if allow_review_own_annotations:
            body["queueMeta"] = {"reviewOwnAnnotationsAvailable": True}
        reply = await self.call("labeling-queues.add", body, idempotent=False)
        return parse_model(IdReply, reply, "labeling-queues.add").id

    async def get_labeling_queue(self, queue_id: int) -> LabelingQueueInfo | None:
        """A queue with its people, jobs and progress counters (`labeling-queues.info`), or None."""
        return await self._get_or_none(LabelingQueueInfo, "labeling-queues.info", {"id": queue_id})

    async def list_labeling_queues(
        self,
        team_id: int,
        filters: Iterable[Filter] = (),
        show_disabled: bool = False,
        *,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> list[LabelingQueueInfo]:
        """A team's queues matching every filter, e.g. `Filter.in_("name", [...])` (`labeling-queues.list`)."""
        body = {"teamId": team_id, "showDisabled": show_disabled, "filter": filters_to_wire(filters)}
        return await self._list_models(LabelingQueueInfo, "labeling-queues.list", body, per_page=per_page)

    async def set_labeling_queue_status(self, queue_id: int, status: JobStatus) -> None:
        """Set a queue's status (`labeling-queues.set-status`); `stopped`/`completed` close it to new takes."""
        await self._write("labeling-queues.set-status", {"id": queue_id, "status": JobStatus(status).value})

    async def list_queue_jobs(self, team_id: int, queue_id: int) -> list[LabelingJobInfo]:
        """The labelers' jobs of a queue (`jobs.list` filtered on `labelingQueueId`), without entities."""
        body = {"teamId": team_id, "filter": filters_to_wire([Filter.in_("labelingQueueId", [queue_id])])}
        return await self._list_models(LabelingJobInfo, "jobs.list", body)

    async def count_queue_entities(
        self, queue_id: int, statuses: Iterable[QueueEntityStatus | None] | None = None
    ) -> int:
        """How many of a queue's images have one of `statuses` (None in it = pending), or all of them."""
        return (await self._entities_page(queue_id, statuses, page=1, per_page=1)).total

    async def list_queue_entities(
        self,
        queue_id: int,
        statuses: Iterable[QueueEntityStatus | None] | None = None,
        *,
        per_page: int = ENTITIES_PER_PAGE,
    ) -> list[QueueEntity]:
        """A queue's images by id with their queue status, every page (`labeling-queues.stats.entities`).

        Raises:
            PaginationError: the listing changed while it was walked (an image came twice or the total moved).
        """
        wanted = None if statuses is None else list(statuses)
        first = await self._entities_page(queue_id, wanted, page=1, per_page=per_page)
        images = list(first.images)
        page = 1
        while len(images) < first.total:
            page += 1
            reply = await self._entities_page(queue_id, wanted, page=page, per_page=per_page)
            if reply.total != first.total or not reply.images:
                raise PaginationError(200, "listing changed", None, "labeling-queues.stats.entities")
            images += reply.images
        if len({image.id for image in images}) != len(images) or len(images) != first.total:
            raise PaginationError(200, "pages overlap", None, "labeling-queues.stats.entities")
        return images

    async def _entities_page(
        self, queue_id: int, statuses: Iterable[QueueEntityStatus | None] | None, *, page: int, per_page: int
    ) -> QueueEntitiesPage:
        """One page of a queue's images sorted by id."""
        body: dict[str, Any] = {
            "id": queue_id,
            "page": page,
            "per_page": per_page,
            "sort": "id",
            "sort_order": "asc",
        }
        if statuses is not None:
            body["entityStatus"] = _wire_statuses(statuses)
        return await self._get(QueueEntitiesPage, "labeling-queues.stats.entities", body)

    async def take_queue_images(self, queue_id: int, count: int = 1) -> TakenImages:
        """As a labeler of the queue, take up to `count` pending images into one's job (sandbox only).

        Not idempotent: a retry after an unknown outcome could take more images (`AmbiguousWriteError`).
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        reply = await self.call(
            "labeling-queues.entities.take", {"id": queue_id, "count": count}, idempotent=False
        )
        return parse_model(TakenImages, reply, "labeling-queues.entities.take")
