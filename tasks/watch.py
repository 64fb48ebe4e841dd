"""Tasks of the watcher: find suspended rounds on the Prefect server, check their jobs, resume the ready or stalled."""

from __future__ import annotations

from uuid import UUID

from prefect import get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import NotPausedError
from prefect.flow_runs import aresume_flow_run
from pydantic import BaseModel, ConfigDict, ValidationError

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, TargetStatus
from labelrounds.steps.gate import GateSnapshot
from labelrounds.steps.queues import check_round_queues
from labelrounds.steps.resume import check_suspended_round
from tasks.gate import ROUND_TAG_PREFIX, TEAM_TAG_PREFIX
from tasks.retrying import API_TAG
from tasks.run_tags import gate_jobs_of, gate_queues_of

ROUND_FLOW_NAME = "labeling-round"


class SuspendedRound(BaseModel):
    """One round that waits, and the paused flow runs waiting on it (usually one)."""

    model_config = ConfigDict(frozen=True)

    round_key: str
    team_id: int
    target: TargetStatus
    flow_run_ids: list[UUID]
    flow_run_names: list[str]
    gate_job_ids: list[int] | None = None
    gate_queue_ids: list[int] | None = None  # a queue-mode round's gate: its queues, checked instead of jobs


def _tag_value(tags: list[str], prefix: str) -> str | None:
    """The value of the first tag with this prefix."""
    return next((tag.removeprefix(prefix) for tag in tags if tag.startswith(prefix)), None)


RoundIdentity = tuple[str, int, TargetStatus, tuple[int, ...] | None, tuple[int, ...] | None]


def round_identity(run: FlowRun) -> RoundIdentity | str:
    """(round key, team id, target, gate's job ids, gate's queue ids) of a paused round run, or why it is not watched."""
    if run.state is not None and run.state.state_details.run_input_keyset:
        return "it waits for a person's answer to its form (tasks/approvals.py), not for its jobs"
    round_key = _tag_value(run.tags, ROUND_TAG_PREFIX)
    team = _tag_value(run.tags, TEAM_TAG_PREFIX)
    if round_key is None or team is None or not team.isdigit():
        return f"no '{ROUND_TAG_PREFIX}<key>' and '{TEAM_TAG_PREFIX}<id>' tags"
    try:
        target = RoundSpec.model_validate(run.parameters.get("spec")).target_status
    except ValidationError as error:
        return f"its 'spec' parameter is not a round spec ({error.error_count()} problems)"
    gate_jobs = gate_jobs_of(run.tags)
    gate_queues = gate_queues_of(run.tags)
    return (
        round_key,
        int(team),
        target,
        tuple(gate_jobs) if gate_jobs is not None else None,
        tuple(gate_queues) if gate_queues is not None else None,
    )


def group_suspended_runs(runs: list[FlowRun]) -> tuple[list[SuspendedRound], dict[str, str]]:
    """Group paused runs by (round key, team, target, gate's jobs); also return the runs left out and why."""
    groups: dict[RoundIdentity, list[FlowRun]] = {}
    skipped: dict[str, str] = {}
    for run in runs:
        identity = round_identity(run)
        if isinstance(identity, str):
            skipped[run.name] = identity
            continue
        groups.setdefault(identity, []).append(run)
    rounds = [
        SuspendedRound(
            round_key=round_key,
            team_id=team_id,
            target=target,
            flow_run_ids=[run.id for run in members],
            flow_run_names=[run.name for run in members],
            gate_job_ids=list(gate_jobs) if gate_jobs is not None else None,
            gate_queue_ids=list(gate_queues) if gate_queues is not None else None,
        )
        for (round_key, team_id, target, gate_jobs, gate_queues), members in sorted(
            groups.items(), key=lambda item: (item[0][:2], item[0][3] or (), item[0][4] or ())
        )
    ]
    return rounds, skipped


@task(task_run_name="find-suspended-rounds", retries=3, retry_delay_seconds=[1, 5, 15], timeout_seconds=120)
async def find_suspended_rounds(flow_name: str = ROUND_FLOW_NAME) -> list[SuspendedRound]:
    """List the paused (suspended or paused) runs of the round flow on the Prefect server, grouped by round.

    Args:
        flow_name: the round flow's name.
    """
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
        )
    rounds, skipped = group_suspended_runs(runs)
    logger = get_run_logger()
    for name, reason in skipped.items():
        logger.warning("Paused run %r is not watched: %s", name, reason)
    logger.info("%d paused round run(s) in %d round(s)", sum(len(r.flow_run_ids) for r in rounds), len(rounds))
    return rounds


async def check_suspended_gate(api: SuperviselyClient, suspended: SuspendedRound) -> GateSnapshot | None:
    """The suspended round's gate, checked as the run left it: its queues (one `labeling-queues.info` each) or its
    jobs (one `jobs.list`); None when the round has no job. Shared by the watcher and the webhook receiver."""
    if suspended.gate_queue_ids:
        return await check_round_queues(api, suspended.gate_queue_ids, suspended.target)
    return await check_suspended_round(
        api, suspended.team_id, suspended.round_key, suspended.target, suspended.gate_job_ids
    )


@task(
    task_run_name="check-{suspended.round_key}",
    tags=[API_TAG],
    timeout_seconds=300,
)
async def check_round(settings: ConnectionSettings, suspended: SuspendedRound) -> GateSnapshot | None:
    """Check what the suspended round waits for: its jobs (one `jobs.list`) or its queues (one info each); None: no job.

    Not retried as a task: the client retries transient failures, and the next watcher pass checks again.

    Args:
        settings: where the Supervisely API is and the token to use.
        suspended: the round to check.
    """
    async with SuperviselyClient(settings) as api:
        snapshot = await check_suspended_gate(api, suspended)
    logger = get_run_logger()
    if snapshot is None:
        logger.warning("Round %s has no job; its run is left suspended", suspended.round_key)
    else:
        logger.info("Round %s: %s", suspended.round_key, snapshot.summary())
    return snapshot


@task(task_run_name="resume-{suspended.round_key}", retries=3, retry_delay_seconds=[1, 5, 15], timeout_seconds=120)
async def resume_round(suspended: SuspendedRound) -> list[str]:
    """Resume every paused run of the round; a run that is no longer paused (resumed meanwhile) is skipped.

    Args:
        suspended: the round to resume (its jobs are ready or stalled).

    Returns:
        The names of the runs this call resumed.
    """
    resumed = []
    for flow_run_id, name in zip(suspended.flow_run_ids, suspended.flow_run_names, strict=True):
        try:
            await aresume_flow_run(flow_run_id)
        except NotPausedError:
            get_run_logger().info("Run %r is no longer paused; nothing to do", name)
            continue
        resumed.append(name)
    get_run_logger().info("Resumed %s for round %s", resumed, suspended.round_key)
    return resumed
