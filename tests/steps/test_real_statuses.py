"""Steps on statuses the real server sends and the sandbox never makes: `quality_check_accepted`, invented ones.

The sandbox store is edited directly to put a job or its images in those statuses (as a real instance with
quality checks on, or a newer one, would report them); the steps then read them through the API. Oracles: the
image ids and statuses the test itself rejected or injected.
"""

from __future__ import annotations

import pandas as pd
import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import LabelingJobInfo, ReviewStatus
from labelrounds.round_spec import TargetStatus
from labelrounds.sandbox.jobs_core import recount
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundNotReadyError
from labelrounds.steps.gate import check_round_jobs
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.report import build_round_report
from labelrounds.steps.rework import create_rework_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult

from .support import Workers, lemons_spec

INVENTED_REVIEW_STATUS = "escalated_to_expert"
INVENTED_JOB_STATUS = "quality_check"


@pytest.fixture
async def jobs(api: SuperviselyClient, target: RoundTarget, people: UsersResult) -> pd.DataFrame:
    """The default round's two jobs, freshly created (pending)."""
    plan = await split_images(api, target, lemons_spec())
    return await create_jobs(api, target, lemons_spec(), plan, people.user_ids)


def _set_review_statuses(sandbox: SandboxServer, job_id: int, statuses: dict[int, str]) -> None:
    """Write images' review statuses straight into the store and recount the job, as a real server reports them."""
    assert sandbox.store is not None
    with sandbox.store.transaction(write=True) as db:
        db.executemany(
            "UPDATE job_entities SET review_status = ? WHERE job_id = ? AND image_id = ?",
            [(status, job_id, image_id) for image_id, status in statuses.items()],
        )
        recount(db, job_id)


def _set_job_status(sandbox: SandboxServer, job_id: int, status: str) -> None:
    assert sandbox.store is not None
    with sandbox.store.transaction(write=True) as db:
        db.execute("UPDATE jobs SET status = ? WHERE id = ?", (status, job_id))


def _rework_everything_not_accepted(job: LabelingJobInfo) -> list[int]:
    """A plausible wrong rule (the mutant): every image that is not accepted goes back."""
    return [entity.id for entity in job.entities or () if entity.review_status is not ReviewStatus.ACCEPTED]


async def test_only_rejected_images_are_reworked_and_the_others_count_as_unreviewed(
    api: SuperviselyClient,
    target: RoundTarget,
    people: UsersResult,
    jobs: pd.DataFrame,
    workers: Workers,
    sandbox: SandboxServer,
) -> None:
    first, second = (int(job_id) for job_id in jobs["job_id"])
    listed = await api.get_job(first)
    assert listed is not None and len(listed.entity_ids()) >= 3
    rejected, waiting_check, invented = listed.entity_ids()[:3]
    await workers.finish(first, api, reject=[rejected])
    await workers.finish(second, api)
    _set_review_statuses(
        sandbox, first, {waiting_check: "quality_check_accepted", invented: INVENTED_REVIEW_STATUS}
    )

    job = await api.get_job(first)  # one unknown entity status used to fail the whole job
    assert job is not None
    statuses = {entity.id: entity.review_status for entity in job.entities or ()}
    assert statuses[waiting_check] is ReviewStatus.QUALITY_CHECK_ACCEPTED
    assert statuses[invented] == INVENTED_REVIEW_STATUS and not statuses[invented].known

    rework = await create_rework_jobs(api, target, lemons_spec(), jobs, people.user_ids)

    assert rework["parent_job_id"].tolist() == [first]
    child = await api.get_job(int(rework.iloc[0]["job_id"]))
    assert child is not None and child.entity_ids() == [rejected]
    # The oracle can fail: a rule that reworks every image not accepted would send three images back.
    assert sorted(_rework_everything_not_accepted(job)) != [rejected]

    report = await build_round_report(api, target.team.id, target.project.id, target.round_key)
    row = report.jobs.set_index("job_id").loc[first]
    images = len(job.entity_ids())
    assert (int(row["accepted"]), int(row["rejected"]), int(row["unreviewed"])) == (images - 3, 1, 2)


async def test_an_unknown_job_status_keeps_the_gate_closed_without_stalling_it(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame, workers: Workers, sandbox: SandboxServer
) -> None:
    first, second = (int(job_id) for job_id in jobs["job_id"])
    await workers.finish(first, api)
    await workers.finish(second, api)
    _set_job_status(sandbox, first, INVENTED_JOB_STATUS)

    snapshot = await check_round_jobs(api, target.team.id, [first, second], TargetStatus.COMPLETED)

    progress = {job.job_id: job for job in snapshot.jobs}
    assert progress[first].status == INVENTED_JOB_STATUS and not progress[first].reached
    assert progress[second].reached
    assert (snapshot.ready, snapshot.stalled_job_ids, snapshot.unknown_status_job_ids) == (False, [], [first])
    assert "does not know" in snapshot.markdown()
    with pytest.raises(RoundNotReadyError):
        snapshot.raise_if_not_ready()
    assert snapshot.frame().set_index("job_id").loc[first, "status"] == INVENTED_JOB_STATUS
