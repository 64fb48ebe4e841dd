"""steps.archive against the sandbox: archive or stop only the finished jobs, idempotently; keep touches nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import EndAction, TargetStatus
from labelrounds.steps.archive import finish_jobs
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult

from .support import Workers, lemons_spec


@pytest.fixture
async def job_ids(
    api: SuperviselyClient, target: RoundTarget, people: UsersResult, workers: Workers
) -> tuple[int, int]:
    """The default round's two jobs: the first completed, the second only labeled (on review)."""
    plan = await split_images(api, target, lemons_spec())
    jobs: pd.DataFrame = await create_jobs(api, target, lemons_spec(), plan, people.user_ids)
    first, second = (int(job_id) for job_id in jobs["job_id"])
    await workers.finish(first, api)
    await workers.label(second, api)
    return first, second


async def test_archive_touches_only_finished_jobs_and_is_idempotent(
    api: SuperviselyClient, target: RoundTarget, job_ids: tuple[int, int]
) -> None:
    first, second = job_ids
    result = await finish_jobs(api, target.team.id, job_ids, EndAction.ARCHIVE, TargetStatus.COMPLETED)

    assert (result.changed, result.already_done, result.not_finished) == ([first], [], [second])
    assert result.summary() == f"archived 1 job, 0 needed nothing; left 1 job unfinished: [{second}]"
    visible = [job.id for job in await api.list_jobs(target.team.id)]
    assert visible == [second]
    archived = await api.get_job(first)
    assert archived is not None and archived.disabled and archived.status == "completed"

    again = await finish_jobs(api, target.team.id, job_ids, EndAction.ARCHIVE, TargetStatus.COMPLETED)
    assert (again.changed, again.already_done) == ([], [first])


async def test_stop_at_on_review_stops_reviewed_and_waiting_jobs_but_keeps_completed_ones(
    api: SuperviselyClient, target: RoundTarget, job_ids: tuple[int, int]
) -> None:
    first, second = job_ids
    result = await finish_jobs(api, target.team.id, job_ids, EndAction.STOP, TargetStatus.ON_REVIEW)

    assert (result.changed, result.already_done, result.not_finished) == ([second], [first], [])
    statuses = {job.id: job.status for job in await api.list_jobs(target.team.id)}
    assert statuses == {first: "completed", second: "stopped"}
    again = await finish_jobs(api, target.team.id, job_ids, EndAction.STOP, TargetStatus.ON_REVIEW)
    assert again.changed == []


async def test_keep_changes_nothing(
    api: SuperviselyClient, target: RoundTarget, job_ids: tuple[int, int]
) -> None:
    before = await api.list_jobs(target.team.id, show_disabled=True)
    result = await finish_jobs(api, target.team.id, job_ids, EndAction.KEEP, TargetStatus.COMPLETED)
    assert result.changed == []
    assert result.summary() == f"kept 1 job unchanged; left 1 job unfinished: [{job_ids[1]}]"
    assert await api.list_jobs(target.team.id, show_disabled=True) == before
