"""Tasks of queue mode: the round's labeling queues, the lineage on their jobs, and the gate on the queues' counters."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, TargetStatus
from labelrounds.steps import queues
from labelrounds.steps.gate import GateSnapshot
from labelrounds.steps.targets import RoundTarget
from tasks.gate import CHECK_TIMEOUT_SECONDS, GateMode, decide_check, round_due, wait_at_gate
from tasks.options import WITHIN_RUN, api_task, outcome_counts
from tasks.retrying import retry_until_ready
from tasks.run_tags import tag_gate_queues


@api_task("create-queues", "create-queues-{spec.round_name}", cache=WITHIN_RUN)
async def create_queues(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    plan: pd.DataFrame,
    user_ids: dict[str, int],
) -> pd.DataFrame:
    """One labeling queue per planned dataset, found by name when it exists (never a second one after a lost reply).

    Args:
        settings: the connection.
        target: the resolved team, project and datasets.
        spec: the round's parameters (labelers, reviewer, classes, tags, limits, guide).
        plan: the validated plan; only its datasets and images are used.
        user_ids: login → user id of the labelers and the reviewer (`ensure_users`).
    """
    async with SuperviselyClient(settings) as api:
        created = await queues.ensure_round_queues(api, target, spec, plan, user_ids)
    get_run_logger().info("queues: %s", outcome_counts(created))
    return created


@api_task("tag-queue-jobs", "tag-queue-jobs-{target.round_key}", cache=WITHIN_RUN)
async def tag_queue_jobs(
    settings: ConnectionSettings, target: RoundTarget, round_queues: pd.DataFrame, plan: pd.DataFrame
) -> pd.DataFrame:
    """Write the round's lineage into the queues' jobs that lack it; the jobs (`lineage.JOB_COLUMNS`).

    Args:
        settings: the connection.
        target: the resolved team, project and datasets.
        round_queues: the round's queues (`create_queues`).
        plan: the validated plan (each job's share key).
    """
    async with SuperviselyClient(settings) as api:
        jobs = await queues.tag_queue_jobs(api, target, round_queues, plan)
    get_run_logger().info("queue jobs: %s", outcome_counts(jobs))
    return jobs


@task(
    name="check-queues",
    task_run_name="gate-{round_name}-queues",
    retry_condition_fn=retry_until_ready,
    timeout_seconds=CHECK_TIMEOUT_SECONDS,
    cache_policy=NO_CACHE,
    persist_result=False,  # each attempt checks again; nothing reads a check back
)
async def check_queues(
    settings: ConnectionSettings,
    queue_ids: list[int],
    target: TargetStatus,
    round_name: str = "round",
    round_key: str | None = None,
    due: datetime | None = None,
) -> GateSnapshot:
    """Check the round's queues once (one `labeling-queues.info` each), publish progress and ETA; raise until ready.

    Args:
        settings: the connection.
        queue_ids: the round's queues.
        target: what every image must reach (on_review: annotated; completed: accepted).
        round_name: the round's name, for names and artifact keys.
        round_key: the round's key, the events' resource (None: no event).
        due: the round's resolved deadline (`round_due`), or None.
    """
    async with SuperviselyClient(settings) as api:
        snapshot = await queues.check_round_queues(api, queue_ids, target)
    return await decide_check(snapshot, 0, round_name, round_key, due)


async def wait_for_queues(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    round_queues: pd.DataFrame,
    gate_mode: GateMode = "poll",
) -> GateSnapshot:
    """Wait (in a flow) until every image of every queue reached the target: task retries, or a suspension.

    In suspend mode the run is tagged with its queue ids first, so the watcher checks those queues.

    Raises:
        RoundTimeoutError: the queues did not reach the target in time (left as they are).
        RoundStalledError: a queue was stopped or removed.
    """
    queue_ids = [int(queue_id) for queue_id in round_queues["queue_id"]]
    due = await round_due(spec)
    arguments = (settings, queue_ids, spec.target_status, spec.round_name, target.round_key, due)
    return await wait_at_gate(check_queues, arguments, spec, 0, gate_mode, lambda: tag_gate_queues(queue_ids))
