"""The adaptive gate in the flow: each `check-and-rebalance` attempt checks the cycle's jobs and moves images.

One attempt = the round's jobs listed once (adopting any job that took over images of the cycle's, also from an
earlier run), one `jobs.list` check, and when a labeler is behind the moves of `steps.rebalance`. Task retries
drive the polling as for `tasks.gate.check_review`, with the same progress artifacts and round events
(`tasks.gate.decide_check`); the cooldown of labelers who just gave images is kept per task run (all attempts of
one gate) in this process.
"""

from __future__ import annotations

from uuid import UUID

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import gate
from labelrounds.steps.errors import RoundNotReadyError
from labelrounds.steps.rebalance import Rebalancer
from labelrounds.steps.targets import RoundTarget
from tasks.gate import (
    CHECK_TIMEOUT_SECONDS,
    GateMode,
    decide_check,
    polling_retries,
    round_due,
    timeout_error,
    wait_for_review,
)
from tasks.retrying import retry_until_ready

#: Per task run (all attempts of one gate): done counts of the labelers when they last gave images.
_gave_at: dict[UUID, dict[str, int]] = {}


async def _look(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    user_ids: dict[str, int],
    done_when_gave: dict[str, int],
) -> tuple[gate.GateSnapshot, Rebalancer]:
    """Adopt the jobs that took over images, check every job once, and move images if a labeler is behind."""
    async with SuperviselyClient(settings) as api:
        rebalancer = Rebalancer(api, target.team.id, target.project.id, spec.round_name, user_ids, jobs)
        rebalancer.done_when_gave = done_when_gave
        await rebalancer.adopt_moved_jobs()
        job_ids = [int(job_id) for job_id in rebalancer.jobs["job_id"]]
        snapshot = await gate.check_round_jobs(api, target.team.id, job_ids, spec.target_status)
        if not snapshot.ready and not snapshot.stalled_job_ids:
            await rebalancer(snapshot)
    return snapshot, rebalancer


@task(
    name="check-and-rebalance",
    task_run_name="gate-{round_name}-cycle-{cycle}",
    retry_condition_fn=retry_until_ready,
    timeout_seconds=CHECK_TIMEOUT_SECONDS,
    cache_policy=NO_CACHE,
    persist_result=False,  # each attempt checks again; nothing reads a check back
)
async def check_and_rebalance(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    user_ids: dict[str, int],
    cycle: int,
    round_name: str = "round",
) -> pd.DataFrame:
    """Check the cycle's jobs once, move images from labelers behind, raise RoundNotReadyError until all reached
    the target; return the cycle's jobs with those that took over images (`lineage.JOB_COLUMNS`)."""
    context = TaskRunContext.get()
    run_id = context.task_run.id if context is not None else None
    gave = _gave_at.get(run_id, {}) if run_id is not None else {}
    snapshot, rebalancer = await _look(settings, target, spec, jobs, user_ids, gave)
    if run_id is not None:
        if snapshot.ready or snapshot.stalled_job_ids:
            _gave_at.pop(run_id, None)
        else:
            _gave_at[run_id] = rebalancer.done_when_gave
    await decide_check(snapshot, cycle, round_name, target.round_key, await round_due(spec))
    return rebalancer.jobs


@task(
    name="rebalance-jobs",
    task_run_name="rebalance-{round_name}-cycle-{cycle}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
async def rebalance_jobs(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    user_ids: dict[str, int],
    cycle: int,
    round_name: str = "round",
) -> pd.DataFrame:
    """One look without waiting (a suspended round's resume): adopt, check, move; the cycle's jobs."""
    _, rebalancer = await _look(settings, target, spec, jobs, user_ids, {})
    return rebalancer.jobs


async def wait_and_rebalance(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    user_ids: dict[str, int],
    cycle: int,
    gate_mode: GateMode = "poll",
) -> pd.DataFrame:
    """The adaptive gate (in a flow): poll `check-and-rebalance` through task retries; or, suspending, one
    `rebalance-jobs` look and then `tasks.gate.wait_for_review` (a resumed run comes back here and looks again).

    Raises:
        RoundTimeoutError: the jobs did not reach the target in time (jobs left as they are).
        RoundStalledError: some jobs were stopped or removed.
    """
    arguments = (settings, target, spec, jobs, user_ids, cycle, spec.round_name)
    if gate_mode == "poll":
        polled = check_and_rebalance.with_options(
            retries=polling_retries(spec), retry_delay_seconds=spec.poll_interval_seconds
        )
        try:
            return await polled(*arguments)
        except RoundNotReadyError as error:
            raise timeout_error(spec, cycle, str(error)) from None
    looked = await rebalance_jobs(*arguments)
    await wait_for_review(settings, target, spec, looked, cycle, gate_mode)
    return looked
