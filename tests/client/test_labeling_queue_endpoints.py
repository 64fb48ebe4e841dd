"""The typed labeling-queue methods against the sandbox: create, read, list, the queue's jobs, per-status
listings, labelers taking images and closing the queue; raw `jobs.info` reads are the oracle."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.errors import ForbiddenError, InvalidRequestError, PaginationError
from labelrounds.client.filters import Filter
from labelrounds.client.models import JobStatus, QueueEntityStatus
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import add_user
from labelrounds.sandbox.server import SandboxServer

from .support import reply

LEMON_IDS = list(range(1002, 1008))
"""The lemons seed's six images."""


def client_for(sandbox: SandboxServer, token: Any) -> SuperviselyClient:
    """A client of the sandbox with one user's token."""
    return SuperviselyClient(ConnectionSettings(server_address=sandbox.url, api_token=token))


def raw_job_images(sandbox: SandboxServer, job_id: int) -> list[int]:
    """Oracle: the job's image ids, read with plain httpx as the admin."""
    response = httpx.post(
        f"{sandbox.url}/public/api/v3/jobs.info",
        json={"id": job_id},
        headers={"x-api-key": sandbox.admin_token.get_secret_value()},
        timeout=30,
    )
    return sorted(entity["id"] for entity in response.json()["entities"])


async def test_a_queue_through_the_typed_client(sandbox: SandboxServer) -> None:
    assert sandbox.store is not None
    labelers = [
        add_user(sandbox.store, f"typed_{k}", role=Role.ANNOTATOR, team_id=sandbox.team_id) for k in (1, 2)
    ]
    reviewer = add_user(sandbox.store, "typed_reviewer", role=Role.REVIEWER, team_id=sandbox.team_id)
    async with client_for(sandbox, sandbox.admin_token) as api:
        queue_id = await api.add_labeling_queue(
            "typed queue",
            sandbox.dataset_id,
            [user.id for user in labelers],
            [reviewer.id],
            classes=["lemon"],
            objects_limit=3,
            allow_review_own_annotations=True,
        )
        with pytest.raises(InvalidRequestError) as duplicate:
            await api.add_labeling_queue(
                "typed queue", sandbox.dataset_id, [labelers[0].id], [reviewer.id], classes=[]
            )
        assert duplicate.value.existing_id("typed queue") == queue_id
        info = await api.get_labeling_queue(queue_id)
        assert info is not None and info.status is JobStatus.PENDING
        assert [person.id for person in info.labelers] == [user.id for user in labelers]
        assert (info.entities_count, info.pending_count, info.all_accepted) == (6, 6, False)
        assert info.queue_meta == {"reviewOwnAnnotationsAvailable": True}
        listed = await api.list_labeling_queues(sandbox.team_id, [Filter.in_("name", ["typed queue"])])
        assert [queue.id for queue in listed] == [queue_id]
        jobs = await api.list_queue_jobs(sandbox.team_id, queue_id)
        assert sorted(job.id for job in jobs) == sorted(info.job_ids)
        assert {job.labeling_queue_id for job in jobs} == {queue_id}
        assert await api.get_labeling_queue(999_999) is None

    taken = {}
    for user, count in zip(labelers, (4, 4), strict=True):
        async with client_for(sandbox, user.token) as labeler_api:
            taken[user.id] = await labeler_api.take_queue_images(queue_id, count)
    first, second = (taken[user.id] for user in labelers)
    assert [len(first.entities), len(second.entities)] == [4, 2]
    for user in labelers:
        assert raw_job_images(sandbox, taken[user.id].job_id) == sorted(
            image.id for image in taken[user.id].entities
        )

    async with client_for(sandbox, sandbox.admin_token) as api:
        assert await api.count_queue_entities(queue_id, [None]) == 0
        labeling = await api.list_queue_entities(queue_id, [QueueEntityStatus.NONE], per_page=4)
        assert [image.id for image in labeling] == LEMON_IDS
        owner = {image.id: image.labeler_id for image in labeling}
        assert owner == {image.id: user.id for user in labelers for image in taken[user.id].entities}
        await api.set_labeling_queue_status(queue_id, JobStatus.STOPPED)
        closed = await api.get_labeling_queue(queue_id)
        assert closed is not None and closed.status is JobStatus.STOPPED and closed.finished_at is not None
    async with client_for(sandbox, labelers[0].token) as labeler_api:
        with pytest.raises(InvalidRequestError):
            await labeler_api.take_queue_images(queue_id)
        with pytest.raises(ForbiddenError):
            await labeler_api.set_labeling_queue_status(queue_id, JobStatus.COMPLETED)


async def test_bad_arguments_fail_before_sending(make_client) -> None:
    async with make_client(lambda request: reply({"id": 1})) as ctx:
        with pytest.raises(ValueError, match="count"):
            await ctx.client.take_queue_images(5, 0)
        with pytest.raises(ValueError, match="user_ids"):
            await ctx.client.add_labeling_queue("q", 1, [], [2], classes=["lemon"])
    assert ctx.recorder.requests == []


async def test_overlapping_entity_pages_are_a_pagination_error(make_client) -> None:
    """Mutant server: page 2 repeats page 1, so the walk must fail rather than report a wrong listing."""
    page = {
        "images": [{"id": 1, "name": "a", "status": None}, {"id": 2, "name": "b", "status": "none"}],
        "total": 4,
    }
    async with make_client(lambda request: reply(page)) as ctx:
        with pytest.raises(PaginationError):
            await ctx.client.list_queue_entities(7, per_page=2)
    healthy = {"images": page["images"], "total": 2}
    async with make_client(lambda request: reply(healthy)) as ctx:
        statuses = [image.status for image in await ctx.client.list_queue_entities(7, per_page=2)]
    assert statuses == [None, QueueEntityStatus.NONE]
