"""steps.gate against the sandbox: one listing per check, readiness per target, stalls, and the waiting loop."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import TargetStatus
from labelrounds.steps.errors import RoundNotReadyError, RoundStalledError, RoundTimeoutError
from labelrounds.steps.gate import PROGRESS_COLUMNS, GateSnapshot, check_round_jobs, wait_until_ready
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import UsersResult

from .support import Workers, lemons_spec


@pytest.fixture
async def jobs(api: SuperviselyClient, target: RoundTarget, people: UsersResult) -> pd.DataFrame:
    """The default round's two jobs, freshly created (pending)."""
    plan = await split_images(api, target, lemons_spec())
    return await create_jobs(api, target, lemons_spec(), plan, people.user_ids)


async def _check(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame, status: TargetStatus
) -> GateSnapshot:
    return await check_round_jobs(api, target.team.id, jobs["job_id"], status)


async def test_one_listing_per_check_and_closed_while_pending(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame
) -> None:
    before = Counter(api.stats.requests)
    snapshot = await _check(api, target, jobs, TargetStatus.COMPLETED)

    assert Counter(api.stats.requests) - before == Counter({"jobs.list": 1})
    assert not snapshot.ready and snapshot.jobs_reached == 0 and snapshot.missing_job_ids == []
    assert (snapshot.images, snapshot.done, snapshot.reviewed) == (6, 0, 0)
    assert snapshot.summary() == "0/2 jobs completed; 0/6 images done (0%), 0 reviewed (0%)"
    assert list(snapshot.frame().columns) == list(PROGRESS_COLUMNS)
    with pytest.raises(RoundNotReadyError, match="not ready: 0/2 jobs completed"):
        snapshot.raise_if_not_ready()


async def test_progress_follows_labeling_and_review(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame, workers: Workers
) -> None:
    first, second = (int(job_id) for job_id in jobs["job_id"])
    await workers.label(first, api)

    on_review = await _check(api, target, jobs, TargetStatus.ON_REVIEW)
    assert not on_review.ready and on_review.jobs_reached == 1
    assert on_review.done == 3 and on_review.share_done == 0.5 and on_review.reviewed == 0

    await workers.label(second, api)
    assert (await _check(api, target, jobs, TargetStatus.ON_REVIEW)).ready
    assert not (await _check(api, target, jobs, TargetStatus.COMPLETED)).ready

    job = await api.get_job(first)
    assert job is not None
    await workers.review(first, api, reject=job.entity_ids()[:1])
    await workers.review(second, api)
    done = await _check(api, target, jobs, TargetStatus.COMPLETED)
    assert done.ready and done.share_reviewed == 1.0
    assert (done.reviewed, sum(job.rejected for job in done.jobs)) == (6, 1)
    done.raise_if_not_ready()  # open gate: nothing raised
    assert "| labeler_1 | completed | 3 | 3 | 2 | 1 |" in done.markdown()


async def test_a_stopped_or_removed_job_stalls_the_gate(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame
) -> None:
    first, second = (int(job_id) for job_id in jobs["job_id"])
    await api.stop_job(first)
    await api.remove_jobs([second])

    snapshot = await _check(api, target, jobs, TargetStatus.COMPLETED)

    stalled = sorted(
        [first, second]
    )  # jobs are created concurrently: their ids need not follow the plan order
    assert snapshot.missing_job_ids == [second] and snapshot.stalled_job_ids == stalled
    with pytest.raises(
        RoundStalledError, match=rf"jobs \[{stalled[0]}, {stalled[1]}\] can never reach completed"
    ):
        snapshot.raise_if_not_ready()
    with pytest.raises(RoundStalledError):
        await wait_until_ready(
            api, target.team.id, jobs["job_id"].tolist(), TargetStatus.COMPLETED, poll_interval=1, timeout=10
        )


class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_waiting_times_out_clearly_and_leaves_the_jobs_alone(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame
) -> None:
    time = FakeTime()
    seen: list[GateSnapshot] = []

    with pytest.raises(RoundTimeoutError, match=r"did not reach completed within 25 s: 0/2 jobs completed"):
        await wait_until_ready(
            api,
            target.team.id,
            jobs["job_id"].tolist(),
            TargetStatus.COMPLETED,
            poll_interval=10,
            timeout=25,
            on_check=seen.append,
            sleep=time.sleep,
            clock=time.clock,
        )

    assert time.sleeps == [10, 10, 5] and len(seen) == 4  # the last check happens at the deadline
    statuses = [job.status for job in await api.list_jobs(target.team.id)]
    assert statuses == ["pending", "pending"]


async def test_waiting_returns_once_every_job_reached_the_target(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame, workers: Workers
) -> None:
    time = FakeTime()
    pending = [int(job_id) for job_id in jobs["job_id"]]

    async def work_one_job_per_check(snapshot: GateSnapshot) -> None:
        if pending:
            await workers.finish(pending.pop(), api)

    snapshot = await wait_until_ready(
        api,
        target.team.id,
        jobs["job_id"].tolist(),
        TargetStatus.COMPLETED,
        poll_interval=30,
        timeout=3600,
        on_check=work_one_job_per_check,
        sleep=time.sleep,
        clock=time.clock,
    )

    assert snapshot.ready and time.sleeps == [30, 30]
