"""Task: send the rejected images of finished jobs back to their labelers in new jobs."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import rework
from labelrounds.steps.targets import RoundTarget
from tasks.options import WITHIN_RUN, api_task, outcome_counts


@api_task("rework-rejected", "rework-{spec.round_name}-after-cycle-{cycle}", cache=WITHIN_RUN)
async def rework_rejected(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    user_ids: dict[str, int],
    cycle: int = 0,
) -> pd.DataFrame:
    """Create the next cycle's jobs over the rejected images of `jobs`; empty when nothing was rejected.

    Args:
        settings: the connection.
        target: the resolved team, project and datasets.
        spec: the round's parameters (rework labeler, maximum cycles).
        jobs: the jobs of the cycle that just passed the gate (JOB_COLUMNS).
        user_ids: login → user id of the round's people.
        cycle: the cycle of `jobs` (for the run name).
    """
    async with SuperviselyClient(settings) as api:
        created = await rework.create_rework_jobs(api, target, spec, jobs, user_ids)
    get_run_logger().info("rework after cycle %d: %s", cycle, outcome_counts(created))
    return created
