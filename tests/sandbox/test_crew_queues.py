"""The crew works labeling queues: labelers take images as they finish the previous ones, reviewers review.

Oracles are raw reads of the sandbox's API (the queue's jobs by `jobs.list` on `labelingQueueId`, each job's
`jobs.info` entities) against the lemons seed's images listed at setup; never the crew's own counters.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from labelrounds.client.models import JobStatus

from .api_client import Api
from .test_crew import CrewSandbox, crew_config, crew_sandbox
from .test_labeling_queues import job_entities, ownership_problems

__all__ = ["crew_sandbox"]
WAIT_LIMIT = 30.0  # a bound so that a broken crew fails the test instead of hanging it; never a speed check
# labeler_1 labels an image in 5 ms, labeler_2 in 300 ms: while labeler_2 labels its first image, labeler_1 can
# label the rest of the six, so labeler_1 takes more by any margin of scheduling noise.
SPEEDS = {"label_seconds_by_login": {"labeler_1": 0.005, "labeler_2": 0.3}}


def raw_admin(crew_sandbox: CrewSandbox, http: httpx.Client) -> Api:
    """The admin as a raw HTTP caller (the oracle's reads)."""
    server = crew_sandbox.server
    return Api(http, server.admin_token.get_secret_value(), server.admin_id)


async def add_queue(crew_sandbox: CrewSandbox) -> int:
    """A queue over the whole lemons dataset for labeler_1 and labeler_2, reviewed by reviewer."""
    ids = crew_sandbox.user_ids
    return await crew_sandbox.api.add_labeling_queue(
        "crew queue",
        crew_sandbox.server.dataset_id,
        [ids["labeler_1"], ids["labeler_2"]],
        [ids["reviewer"]],
        classes=["kiwi", "lemon"],
    )


async def wait_until_accepted(admin: Api, queue_id: int, image_count: int) -> dict[int, dict[int, str]]:
    """Poll raw `jobs.info` until every image of the queue is accepted in some job; fail after WAIT_LIMIT."""
    deadline = asyncio.get_running_loop().time() + WAIT_LIMIT
    while True:
        jobs = await asyncio.to_thread(job_entities, admin, queue_id)
        accepted = [
            image for images in jobs.values() for image, status in images.items() if status == "accepted"
        ]
        if len(accepted) >= image_count:
            return jobs
        if asyncio.get_running_loop().time() > deadline:
            statuses = {job_id: admin.job(job_id)["status"] for job_id in jobs}
            pytest.fail(f"the queue's images were never all accepted: {jobs}, jobs {statuses}")
        await asyncio.sleep(0.05)


def labeled_by(admin: Api, jobs: dict[int, dict[int, str]]) -> Counter[int]:
    """How many images each labeler (user id) holds, from raw `jobs.info` reads."""
    return Counter({admin.job(job_id)["userId"]: len(images) for job_id, images in jobs.items()})


@crew_config(**SPEEDS)
async def test_every_queue_image_is_labeled_once_and_the_faster_labeler_takes_more(
    crew_sandbox: CrewSandbox,
) -> None:
    with httpx.Client(base_url=crew_sandbox.server.url, timeout=30) as http:
        admin = raw_admin(crew_sandbox, http)
        queue_id = await add_queue(crew_sandbox)
        jobs = await wait_until_accepted(admin, queue_id, len(crew_sandbox.image_ids))

        assert ownership_problems(crew_sandbox.image_ids, jobs) == []
        held = sorted(image for images in jobs.values() for image in images)
        assert held == sorted(crew_sandbox.image_ids)
        per_labeler = labeled_by(admin, jobs)
        ids = crew_sandbox.user_ids
        assert per_labeler[ids["labeler_1"]] > per_labeler[ids["labeler_2"]]
        assert sum(per_labeler.values()) == len(crew_sandbox.image_ids)
        queue = admin.ok("labeling-queues.info", {"id": queue_id})
        assert (queue["status"], queue["acceptedCount"]) == ("completed", len(crew_sandbox.image_ids))
        await crew_sandbox.wait_for(list(jobs), JobStatus.COMPLETED)


@crew_config(label_seconds_by_login={"labeler_2": 0.01}, reject_rate=1.0)
async def test_rejected_queue_images_are_labeled_again_and_end_accepted_once(
    crew_sandbox: CrewSandbox,
) -> None:
    with httpx.Client(base_url=crew_sandbox.server.url, timeout=30) as http:
        admin = raw_admin(crew_sandbox, http)
        queue_id = await add_queue(crew_sandbox)
        jobs = await wait_until_accepted(admin, queue_id, len(crew_sandbox.image_ids))

        assert ownership_problems(crew_sandbox.image_ids, jobs) == []
        statuses = [status for images in jobs.values() for status in images.values()]
        assert sorted(statuses) == ["accepted"] * len(crew_sandbox.image_ids)
        # Every image was rejected once (rate 1, at most one rejection each) before its acceptance.
        assert crew_sandbox.crew.stats.snapshot()["image_rejected"] == len(crew_sandbox.image_ids)


@crew_config(label_seconds_by_login={"labeler_1": 0.01})
async def test_a_labeler_that_got_no_image_never_submits_an_empty_job(crew_sandbox: CrewSandbox) -> None:
    """A queue over one image for two labelers: the one who did not get it keeps an open job, never on review."""
    ids = crew_sandbox.user_ids
    queue_id = await crew_sandbox.api.add_labeling_queue(
        "one image",
        crew_sandbox.server.dataset_id,
        [ids["labeler_1"], ids["labeler_2"]],
        [ids["reviewer"]],
        classes=["kiwi"],
        entity_ids=crew_sandbox.image_ids[:1],
    )
    with httpx.Client(base_url=crew_sandbox.server.url, timeout=30) as http:
        admin = raw_admin(crew_sandbox, http)
        jobs = await wait_until_accepted(admin, queue_id, 1)
        await asyncio.sleep(0.2)  # several crew polls after the queue is done
        jobs = await asyncio.to_thread(job_entities, admin, queue_id)
        empty = [job_id for job_id, images in jobs.items() if not images]
        assert len(empty) == 1
        assert admin.job(empty[0])["status"] in ("pending", "in_progress")


def test_the_oracle_sees_an_image_labeled_twice() -> None:
    """Mutant: a job set where one image is held by two jobs fails the once-each checks used above."""
    duplicated = {1: {10: "accepted", 11: "accepted"}, 2: {11: "accepted"}}
    assert ownership_problems([10, 11], duplicated) == ["image 11 is in 2 jobs"]
    held = sorted(image for images in duplicated.values() for image in images)
    assert held != [10, 11]


@crew_config(mode="instant")
async def test_the_instant_crew_leaves_queue_jobs_alone(crew_sandbox: CrewSandbox) -> None:
    """The instant crew does not take from queues: it must not complete the queue's empty jobs either."""
    queue_id = await add_queue(crew_sandbox)
    static_job = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids[:1])
    await crew_sandbox.wait_for([static_job], JobStatus.COMPLETED)  # the crew made passes meanwhile
    with httpx.Client(base_url=crew_sandbox.server.url, timeout=30) as http:
        admin = raw_admin(crew_sandbox, http)
        jobs = await asyncio.to_thread(job_entities, admin, queue_id)
        assert len(jobs) == 2 and all(not images for images in jobs.values())
        assert {admin.job(job_id)["status"] for job_id in jobs} == {"pending"}
