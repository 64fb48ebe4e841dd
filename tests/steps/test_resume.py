"""steps.resume against the sandbox: a suspended round's current cycle, found by its key with one listing."""

from __future__ import annotations

import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import TargetStatus
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.resume import check_suspended_round, project_id_of
from labelrounds.steps.rework import create_rework_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult

from .support import Workers, lemons_spec


def test_the_project_id_is_read_from_the_round_key() -> None:
    assert project_id_of("round-1@13487") == 13487
    assert project_id_of("a@b@7") == 7
    for bad in ("round-1", "round-1@", "round-1@x", "round-1@0"):
        with pytest.raises(ValueError, match="is not '<round name>@<project id>'"):
            project_id_of(bad)


async def test_a_round_without_jobs_has_no_snapshot(api: SuperviselyClient, target: RoundTarget) -> None:
    assert await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED) is None


async def test_the_current_cycle_is_checked_with_one_listing(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, workers: Workers
) -> None:
    spec = lemons_spec()
    first = await create_jobs(api, target, spec, await split_images(api, target, spec), people.user_ids)
    first_ids = sorted(int(job_id) for job_id in first["job_id"])
    other_round = lemons_spec(round_name="round-2")
    await create_jobs(api, target, other_round, await split_images(api, target, other_round), people.user_ids)

    before = api.stats.calls["jobs.list"]
    snapshot = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.ON_REVIEW)
    assert api.stats.calls["jobs.list"] == before + 1
    assert snapshot is not None and not snapshot.ready
    assert [job.job_id for job in snapshot.jobs] == first_ids  # round-2's jobs are not this round's

    await workers.label(first_ids[0], api)
    snapshot = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.ON_REVIEW)
    assert snapshot is not None and snapshot.jobs_reached == 1 and not snapshot.ready

    job = await api.get_job(first_ids[0])
    assert job is not None
    await workers.review(first_ids[0], api, reject=job.entity_ids()[:1])
    await workers.finish(first_ids[1], api)
    snapshot = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED)
    assert snapshot is not None and snapshot.ready

    # after a rework the round waits on the new cycle only
    rework = await create_rework_jobs(api, target, spec, first, people.user_ids)
    snapshot = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED)
    assert snapshot is not None and not snapshot.ready
    assert [job.job_id for job in snapshot.jobs] == [int(job_id) for job_id in rework["job_id"]]
    await workers.finish(int(rework["job_id"].iloc[0]), api)
    snapshot = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED)
    assert snapshot is not None and snapshot.ready
