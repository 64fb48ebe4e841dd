"""Prefect events about rounds: `labelrounds.job.completed` for a job completion the API confirmed.

The event's resource is the round (`labelrounds.round.<round key>`), related to the round's flow run when one
carries the tag `labelrounds-round:<key>` (a paused one first, else the latest). Its id is derived from the
completion (team, job, finish time), so the same completion announced twice (a duplicated or retried delivery)
is the same event, which the Prefect server stores once; consumers should still dedupe on `job_id`.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events import Event, emit_event

from labelrounds.job_notices import ConfirmedCompletion
from tasks.events import round_resource_id
from tasks.gate import ROUND_TAG_PREFIX

JOB_COMPLETED_EVENT = "labelrounds.job.completed"
def completion_event_id(completion: ConfirmedCompletion) -> UUID:
    """The same id for every announcement of one completion."""
    return uuid5(NAMESPACE_URL, f"labelrounds:{JOB_COMPLETED_EVENT}:{completion.key}")


async def find_round_flow_run(round_key: str) -> UUID | None:
    """The id of the round's flow run (tag `labelrounds-round:<key>`): a paused one first, else the latest."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[ROUND_TAG_PREFIX + round_key])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=20,
        )
    paused = [run for run in runs if run.state is not None and run.state.type == StateType.PAUSED]
    chosen = (paused or runs)[:1]
    return chosen[0].id if chosen else None


async def emit_job_completed(completion: ConfirmedCompletion) -> Event | None:
    """Emit `labelrounds.job.completed` for a confirmed completion (see the module docstring).

    Args:
        completion: the job completion the API confirmed.

    Returns:
        The event handed to Prefect's events worker (None when events are off in this process).
    """
    flow_run_id = await find_round_flow_run(completion.round_key)
    related = (
        [{"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}]
        if flow_run_id is not None
        else []
    )
    return emit_event(
        event=JOB_COMPLETED_EVENT,
        resource={
            "prefect.resource.id": round_resource_id(completion.round_key),
            "prefect.resource.name": completion.round_key,
            "labelrounds.team-id": str(completion.team_id),
        },
        related=related,
        payload={
            "team_id": completion.team_id,
            "job_id": completion.job_id,
            "cycle": completion.cycle,
            "finished_at": completion.finished_at,
        },
        id=completion_event_id(completion),
    )
