"""Task: create (or find) the round's first-cycle jobs."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import jobs
from labelrounds.steps.targets import RoundTarget
from tasks.options import WITHIN_RUN, api_task, outcome_counts


@api_task("create-jobs", "create-jobs-{spec.round_name}", cache=WITHIN_RUN)
async def create_jobs(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    plan: pd.DataFrame,
    user_ids: dict[str, int],
    hidden: dict[tuple[int, str], list[int]] | None = None,
) -> pd.DataFrame:
    """One job per planned share, found by identity when it exists already (never a duplicate, even after a lost reply).

    Args:
        settings: the connection.
        target: the resolved team, project and datasets.
        spec: the round's parameters.
        plan: the split plan (`split_images`).
        user_ids: login → user id of the labelers and the reviewer (`ensure_users`).
        hidden: gold copy ids per (dataset id, labeler) to add to the jobs (`steps.gold.hidden_entities`).
    """
    async with SuperviselyClient(settings) as api:
        created = await jobs.create_jobs(api, target, spec, plan, user_ids, hidden)
    get_run_logger().info("jobs: %s", outcome_counts(created))
    return created
