"""steps.resume against the sandbox: a suspended round's jobs, found by its key or the gate's ids, and the decision."""

from __future__ import annotations

import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import TargetStatus
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.resume import check_suspended_round, project_id_of, resume_reason
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


async def first_cycle(api: SuperviselyClient, target: RoundTarget, people: UsersResult) -> list[int]:
    """Create the lemons round's first cycle (two jobs, pending) and return their ids."""
    spec = lemons_spec()
    jobs = await create_jobs(api, target, spec, await split_images(api, target, spec), people.user_ids)
    return sorted(int(job_id) for job_id in jobs["job_id"])


async def raw_job_ids(api: SuperviselyClient, team_id: int) -> set[int]:
    """The team's job ids as the server lists them (archived included): the oracle of what still exists."""
    reply = await api.call("jobs.list", {"teamId": team_id, "showDisabled": True, "per_page": 500}, idempotent=True)
    return {int(entity["id"]) for entity in reply["entities"]}


@pytest.mark.parametrize("known_gate_jobs", [True, False])
async def test_a_round_with_a_stopped_job_is_resumed_as_stalled(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, known_gate_jobs: bool
) -> None:
    job_ids = await first_cycle(api, target, people)
    gate_jobs = job_ids if known_gate_jobs else None
    waiting = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED, gate_jobs)
    assert resume_reason(waiting) is None  # control: nobody worked, nothing stopped: keep waiting

    await api.stop_job(job_ids[0])

    snapshot = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED, gate_jobs)
    assert resume_reason(snapshot) == "stalled"
    assert snapshot is not None and snapshot.stalled_job_ids == [job_ids[0]]  # the job this test stopped


async def test_a_round_with_a_removed_job_is_resumed_as_stalled_when_the_gate_jobs_are_known(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult
) -> None:
    job_ids = await first_cycle(api, target, people)
    await api.remove_jobs([job_ids[1]])
    assert job_ids[1] not in await raw_job_ids(api, target.team.id)  # the server really dropped it

    snapshot = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED, job_ids)
    assert resume_reason(snapshot) == "stalled"
    assert snapshot is not None and snapshot.missing_job_ids == [job_ids[1]] and snapshot.stalled_job_ids == [job_ids[1]]
    # Without the gate's ids a removed job leaves no trace in the listing: why the round run records them.
    by_lineage = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED)
    assert by_lineage is not None and [job.job_id for job in by_lineage.jobs] == [job_ids[0]]
    assert resume_reason(by_lineage) is None


async def test_a_round_whose_jobs_finished_is_resumed_as_ready(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, workers: Workers
) -> None:
    job_ids = await first_cycle(api, target, people)
    await workers.finish(job_ids[0], api)
    half = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED, job_ids)
    assert resume_reason(half) is None  # one job still pending: not ready, not stalled
    await workers.finish(job_ids[1], api)
    done = await check_suspended_round(api, target.team.id, target.round_key, TargetStatus.COMPLETED, job_ids)
    assert resume_reason(done) == "ready" and resume_reason(None) is None
