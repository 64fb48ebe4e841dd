"""steps.rework against the sandbox: rejected images go back in a new job with lineage, up to the cycle limit."""

from __future__ import annotations

import pandas as pd
import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import ReviewStatus
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.lineage import JobLineage
from labelrounds.steps.rework import create_rework_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult

from .support import LoseReplies, Workers, admin_client, lemons_spec


@pytest.fixture
async def jobs(api: SuperviselyClient, target: RoundTarget, people: UsersResult) -> pd.DataFrame:
    """The default round's two jobs, freshly created (pending)."""
    plan = await split_images(api, target, lemons_spec())
    return await create_jobs(api, target, lemons_spec(), plan, people.user_ids)


async def _finish_rejecting(
    api: SuperviselyClient, workers: Workers, job_id: int, how_many: int
) -> list[int]:
    """Label and review a job, rejecting its first `how_many` images; return the rejected ids."""
    job = await api.get_job(job_id)
    assert job is not None
    rejected = job.entity_ids()[:how_many]
    await workers.finish(job_id, api, reject=rejected)
    return rejected


async def test_rejected_images_go_back_to_the_same_labeler_with_lineage(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, jobs: pd.DataFrame, workers: Workers
) -> None:
    first, second = (int(job_id) for job_id in jobs["job_id"])
    rejected = await _finish_rejecting(api, workers, first, 2)
    await _finish_rejecting(api, workers, second, 0)

    rework = await create_rework_jobs(api, target, lemons_spec(), jobs, people.user_ids)

    assert len(rework) == 1
    row = rework.iloc[0]
    assert (row["parent_job_id"], row["cycle"], row["labeler"], row["images"]) == (first, 1, "labeler_1", 2)
    assert (
        row["job_name"] == f"round-1 / ds1 / labeler_1 / rework 1 of #{first}" and row["outcome"] == "created"
    )
    job = await api.get_job(int(row["job_id"]))
    assert job is not None
    assert sorted(job.entity_ids()) == sorted(rejected)
    assert job.entity_ids(ReviewStatus.NONE) == job.entity_ids()
    assert job.labeler_login == "labeler_1" and job.reviewer_login == "reviewer_1"
    lineage = JobLineage.of(job)
    assert lineage is not None and (lineage.parent, lineage.cycle, lineage.round) == (
        first,
        1,
        "round-1@13487",
    )
    parent = await api.get_job(first)
    assert parent is not None and parent.status == "completed"


async def test_rework_is_idempotent(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, jobs: pd.DataFrame, workers: Workers
) -> None:
    for job_id in jobs["job_id"]:
        await _finish_rejecting(api, workers, int(job_id), 1)
    first = await create_rework_jobs(api, target, lemons_spec(), jobs, people.user_ids)
    adds = api.stats.calls["jobs.add"]

    second = await create_rework_jobs(api, target, lemons_spec(), jobs, people.user_ids)

    assert api.stats.calls["jobs.add"] == adds
    assert second["job_id"].tolist() == first["job_id"].tolist() and set(second["outcome"]) == {"reused"}


async def test_cycles_stop_at_the_limit(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, jobs: pd.DataFrame, workers: Workers
) -> None:
    for job_id in jobs["job_id"]:
        await _finish_rejecting(api, workers, int(job_id), 1)
    two_cycles = lemons_spec(max_rework_cycles=2)
    cycle_1 = await create_rework_jobs(api, target, two_cycles, jobs, people.user_ids)
    for job_id in cycle_1["job_id"]:
        await _finish_rejecting(api, workers, int(job_id), 1)

    cycle_2 = await create_rework_jobs(api, target, two_cycles, cycle_1, people.user_ids)
    assert cycle_2["cycle"].tolist() == [2, 2]
    assert cycle_2["parent_job_id"].tolist() == cycle_1["job_id"].tolist()
    for job_id in cycle_2["job_id"]:
        await _finish_rejecting(api, workers, int(job_id), 1)

    assert (await create_rework_jobs(api, target, two_cycles, cycle_2, people.user_ids)).empty
    assert (
        await create_rework_jobs(api, target, lemons_spec(max_rework_cycles=1), cycle_1, people.user_ids)
    ).empty
    assert (
        await create_rework_jobs(api, target, lemons_spec(max_rework_cycles=0), jobs, people.user_ids)
    ).empty


async def test_rework_labeler_takes_every_rework_job(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, jobs: pd.DataFrame, workers: Workers
) -> None:
    for job_id in jobs["job_id"]:
        await _finish_rejecting(api, workers, int(job_id), 1)

    rework = await create_rework_jobs(
        api, target, lemons_spec(rework_labeler="labeler_2"), jobs, people.user_ids
    )

    assert rework["labeler"].tolist() == ["labeler_2", "labeler_2"]
    assert rework["job_name"].nunique() == 2


async def test_unfinished_jobs_and_jobs_without_rejections_are_left_alone(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, jobs: pd.DataFrame, workers: Workers
) -> None:
    first, second = (int(job_id) for job_id in jobs["job_id"])
    await workers.label(first, api)
    job = await api.get_job(first)
    assert job is not None
    reviewer = await workers.client("reviewer_1")
    await reviewer.set_entity_review_status(
        first, job.entity_ids()[0], ReviewStatus.REJECTED
    )  # still on review
    await _finish_rejecting(api, workers, second, 0)

    assert (await create_rework_jobs(api, target, lemons_spec(), jobs, people.user_ids)).empty
    assert api.stats.calls["jobs.add"] == 2  # only the round's own two jobs


async def test_a_lost_rework_reply_is_adopted(
    sandbox: SandboxServer, target: RoundTarget, people: UsersResult, jobs: pd.DataFrame, workers: Workers
) -> None:
    losing = LoseReplies("jobs.add")
    async with admin_client(sandbox, transport=losing) as api:
        await _finish_rejecting(api, workers, int(jobs["job_id"].iloc[0]), 3)
        rework = await create_rework_jobs(api, target, lemons_spec(), jobs, people.user_ids)
        assert losing.lost == 1 and rework["outcome"].tolist() == ["adopted"]
        again = await create_rework_jobs(api, target, lemons_spec(), jobs, people.user_ids)
        assert again["job_id"].tolist() == rework["job_id"].tolist()
        assert len(await api.list_jobs(target.team.id)) == 3
