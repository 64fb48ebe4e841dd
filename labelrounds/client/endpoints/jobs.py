"""Labeling jobs: `jobs.*`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from labelrounds.client.core import ClientCore
from labelrounds.client.endpoints.validation import labeling_meta, require_ids, require_text
from labelrounds.client.errors import InvalidRequestError, NotFoundError, ResponseFormatError
from labelrounds.client.filters import Filter, filters_to_wire
from labelrounds.client.models import (
    IdReply,
    JobSplit,
    JobStats,
    JobStatus,
    LabelingJobInfo,
    RejectMode,
    ReviewStatus,
)
from labelrounds.client.pagination import DEFAULT_PER_PAGE
from labelrounds.client.parsing import parse_model, parse_models

REMOVE_BATCH_SIZE = 50


class JobEndpoints(ClientCore):
    """Typed methods over labeling jobs and their review."""

    async def add_jobs(
        self,
        name: str,
        dataset_id: int,
        user_ids: Iterable[int],
        *,
        classes: Iterable[str],
        tags: Iterable[str],
        entity_ids: Iterable[int],
        reviewer_id: int | None = None,
        readme: str | None = None,
        description: str | None = None,
        objects_limit: int | None = None,
        tags_limit: int | None = None,
        include_tags: Iterable[str] = (),
        exclude_tags: Iterable[str] = (),
        custom_data: Mapping[str, Any] | None = None,
    ) -> list[int]:
        """Create labeling jobs (`jobs.add`): one per user. Not idempotent: see `AmbiguousWriteError`.

        Args:
            name: job name (the server suffixes ` (#k)` when several users are given).
            dataset_id: the dataset whose images are labeled.
            user_ids: the labelers, one job each.
            classes: names of the classes to label.
            tags: names of the project tags to label.
            entity_ids: the images of the job; empty means the whole dataset (after tag filters).
            reviewer_id: the reviewer; the server picks one when None.
            readme: instructions shown to the labeler.
            description: short description.
            objects_limit: max objects per image (None: no limit).
            tags_limit: max tags per image (None: no limit).
            include_tags: only images having these tags.
            exclude_tags: no images having these tags.
            custom_data: free JSON stored with the job (`customData`).

        Returns:
            The ids of the created jobs, in the server's order.
        """
        require_text("name", name)
        meta = {
            **labeling_meta(
                classes=classes,
                tags=tags,
                objects_limit=objects_limit,
                tags_limit=tags_limit,
                include_tags=include_tags,
                exclude_tags=exclude_tags,
            ),
            "entityIds": require_ids("entity_ids", entity_ids, allow_empty=True),
            "allowRestore": False,
        }
        body: dict[str, Any] = {
            "name": name,
            "datasetId": dataset_id,
            "userIds": require_ids("user_ids", user_ids),
            "meta": meta,
        }
        optional = {"readme": readme, "description": description, "reviewerId": reviewer_id}
        body.update({key: value for key, value in optional.items() if value is not None})
        if custom_data is not None:
            body["customData"] = dict(custom_data)
        return _job_ids(await self.call("jobs.add", body, idempotent=False), "jobs.add")

    async def get_job(self, job_id: int) -> LabelingJobInfo | None:
        """A job with its entities and their review statuses (`jobs.info`), or None."""
        return await self._get_or_none(LabelingJobInfo, "jobs.info", {"id": job_id})

    async def list_jobs(
        self,
        team_id: int,
        filters: Iterable[Filter] = (),
        show_disabled: bool = False,
        *,
        per_page: int = DEFAULT_PER_PAGE,
    ) -> list[LabelingJobInfo]:
        """A team's jobs matching every filter, by id, without entities (`jobs.list`, every page).

        Args:
            team_id: the team.
            filters: conditions on wire fields, e.g. `Filter.eq("projectId", 13487)`, `Filter.in_("id", ids)`.
            show_disabled: include archived jobs.
            per_page: page size to ask for.
        """
        body = {"teamId": team_id, "showDisabled": show_disabled, "filter": filters_to_wire(filters)}
        return await self._list_models(LabelingJobInfo, "jobs.list", body, per_page=per_page)

    async def stop_job(self, job_id: int) -> None:
        """Stop a job (`jobs.stop`): status `stopped`, the labeler loses access."""
        await self._write("jobs.stop", {"id": job_id})

    async def archive_job(self, job_id: int) -> None:
        """Archive a job (`jobs.archive`): hidden from `list_jobs` unless `show_disabled`."""
        await self._write("jobs.archive", {"id": job_id})

    async def set_job_status(self, job_id: int, status: JobStatus) -> None:
        """Set a job's status (`jobs.set-status`); the server checks the transition against the caller's role."""
        await self._write("jobs.set-status", {"id": job_id, "status": JobStatus(status).value})

    async def remove_jobs(self, job_ids: Iterable[int]) -> None:
        """Delete jobs (`jobs.bulk.remove`), in batches of 50 like the SDK."""
        ids = require_ids("job_ids", job_ids, allow_empty=True)
        for start in range(0, len(ids), REMOVE_BATCH_SIZE):
            await self._write("jobs.bulk.remove", {"ids": ids[start : start + REMOVE_BATCH_SIZE]})

    async def reject_job(self, job_id: int, mode: RejectMode = RejectMode.ALL) -> None:
        """Reject a job's images (`jobs.reject`): all of them, or only those not yet reviewed."""
        await self._write("jobs.reject", {"id": job_id, "mode": RejectMode(mode).value})

    async def set_entity_review_status(self, job_id: int, entity_id: int, status: ReviewStatus) -> None:
        """Set the review status of one image of a job (`jobs.entities.update-review-status`)."""
        body = {"jobId": job_id, "entityId": entity_id, "status": ReviewStatus(status).value}
        await self._write("jobs.entities.update-review-status", body)

    async def restart_job(
        self,
        job_id: int,
        *,
        user_ids: Iterable[int],
        reviewer_id: int,
        name: str | None = None,
        complete_existing: bool = True,
    ) -> list[int]:
        """Create new jobs over a job's rejected images (`jobs.restart`). Not idempotent.

        Raises:
            NothingToRestartError: the job has no rejected images.
            AmbiguousWriteError: the outcome is unknown; look the new job up before trying again.
        """
        body: dict[str, Any] = {
            "id": job_id,
            "completeExisting": complete_existing,
            "userIds": require_ids("user_ids", user_ids),
            "reviewerId": reviewer_id,
        }
        if name is not None:
            body["name"] = require_text("name", name)
        return _job_ids(await self.call("jobs.restart", body, idempotent=False), "jobs.restart")

    async def split_job(
        self,
        job_id: int,
        entity_ids: Iterable[int],
        *,
        user_id: int,
        reviewer_id: int | None = None,
        name: str | None = None,
        custom_data: Mapping[str, Any] | None = None,
    ) -> JobSplit:
        """Move a job's untouched images into a new job of `user_id` (`jobs.split`, sandbox only). Not idempotent.

        The server moves only the listed images the job's labeler has not touched, in one transaction; the
        reply names the new job, the moved images and the skipped (touched) ones.

        Raises:
            InvalidRequestError: no listed image is untouched, the move would empty the job, or it is not
                pending or in progress.
            AmbiguousWriteError: the outcome is unknown; look the new job up (its customData) before trying again.
        """
        body: dict[str, Any] = {"id": job_id, "entityIds": require_ids("entity_ids", entity_ids), "userId": user_id}
        if reviewer_id is not None:
            body["reviewerId"] = reviewer_id
        if name is not None:
            body["name"] = require_text("name", name)
        if custom_data is not None:
            body["customData"] = dict(custom_data)
        return parse_model(JobSplit, await self.call("jobs.split", body, idempotent=False), "jobs.split")

    async def can_split_jobs(self) -> bool:
        """Whether the server has `jobs.split` (the sandbox does, Supervisely 6.74.51 does not). Writes nothing.

        The probe posts an empty body: a server with the method refuses it for the missing fields (400 naming
        `entityIds`); one without it answers 404 (or a 400 about something else).
        """
        try:
            await self.call("jobs.split", {}, idempotent=True)
        except NotFoundError:
            return False
        except InvalidRequestError as error:
            return "entityIds" in str(error.message)
        return True

    async def edit_job(
        self,
        job_id: int,
        *,
        custom_data: Mapping[str, Any] | None = None,
        user_id: int | None = None,
        reviewer_id: int | None = None,
    ) -> None:
        """Change a job's custom data (replaced whole), labeler or reviewer (`jobs.editInfo`)."""
        changes = {"customData": custom_data, "userId": user_id, "reviewerId": reviewer_id}
        body = {key: value for key, value in changes.items() if value is not None}
        if not body:
            raise ValueError("edit_job needs at least one of custom_data, user_id, reviewer_id")
        if custom_data is not None:
            body["customData"] = dict(custom_data)
        await self._write("jobs.editInfo", {"id": job_id, **body})

    async def get_job_stats(self, job_id: int) -> JobStats:
        """Statistics of a job, including each image's review status (`jobs.stats`)."""
        return await self._get(JobStats, "jobs.stats", {"id": job_id})


def _job_ids(reply: Any, method: str) -> list[int]:
    """The ids of the jobs a `jobs.add`/`jobs.restart` reply names: `[{"id": …}, …]` (or one such object)."""
    if isinstance(reply, dict):
        reply = [reply]
    if not isinstance(reply, list):
        raise ResponseFormatError(
            200, "unexpected reply shape", {"message": "expected a list of {id}"}, method
        )
    return [item.id for item in parse_models(IdReply, reply, method)]
