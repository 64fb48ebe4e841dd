"""Prefect events the webhook receiver emits: `labelrounds.job.completed`, and `labelrounds.round.ready` when a
suspended round's gate is satisfied.

`labelrounds.job.completed`: the resource is the round (`labelrounds.round.<round key>`), related to the round's
flow run when one carries the tag `labelrounds-round:<key>` (a paused one first, else the latest). Its id is
derived from the completion (team, job, finish time), so the same completion announced twice (a duplicated or
retried delivery) is the same event, which the Prefect server stores once.

`labelrounds.round.ready`: after a confirmed completion, each paused run of the round has its gate checked as the
watcher checks it (`tasks.watch.check_suspended_gate`: one `jobs.list` over the jobs its `labelrounds-gate-jobs:`
tag names, or its queues); when they are all ready, or
stalled (the resumed gate then fails at once), the event is emitted related to that run, and the automation
`deployments.automations.resume_ready_rounds_automation` resumes it. Its id is derived from the run's Paused state,
so every delivery about the same pause yields the same event, which Prefect's triggers evaluate once; and Prefect
resumes only a paused run, so nothing is resumed twice.

Both are sent with one `POST /events` before the receiver answers (not through the background events worker), so
an event the server did not take fails the delivery, and Supervisely sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events import Event

from labelrounds.client import SuperviselyClient
from labelrounds.job_notices import ConfirmedCompletion
from labelrounds.steps.resume import resume_reason
from tasks.events import round_resource_id
from tasks.gate import ROUND_TAG_PREFIX
from tasks.watch import check_suspended_gate, group_suspended_runs

JOB_COMPLETED_EVENT = "labelrounds.job.completed"
ROUND_READY_EVENT = "labelrounds.round.ready"
#: Runs of one round read at most (a round has one run at a time; re-runs add a few).
_RUNS_READ = 20


def completion_event_id(completion: ConfirmedCompletion) -> UUID:
    """The same id for every announcement of one completion."""
    return uuid5(NAMESPACE_URL, f"labelrounds:{JOB_COMPLETED_EVENT}:{completion.key}")


def ready_event_id(run: FlowRun) -> UUID:
    """The same id for every "ready" announcement about one pause of one run (its Paused state's id)."""
    state_id = run.state.id if run.state is not None else None
    return uuid5(NAMESPACE_URL, f"labelrounds:{ROUND_READY_EVENT}:{run.id}:{state_id}")


def is_paused(run: FlowRun) -> bool:
    """Whether the run is paused or suspended now."""
    return run.state is not None and run.state.type == StateType.PAUSED


async def round_flow_runs(round_key: str) -> list[FlowRun]:
    """The round's flow runs (tag `labelrounds-round:<key>`), latest first."""
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[ROUND_TAG_PREFIX + round_key])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=_RUNS_READ,
        )


async def find_round_flow_run(round_key: str) -> UUID | None:
    """The id of the round's flow run: a paused one first, else the latest."""
    runs = await round_flow_runs(round_key)
    chosen = ([run for run in runs if is_paused(run)] or runs)[:1]
    return chosen[0].id if chosen else None


def _flow_run_related(flow_run_id: UUID) -> dict[str, str]:
    return {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}


async def send_events(events: list[Event]) -> None:
    """Hand the events to the Prefect server now; an error (server down, rejected) reaches the caller."""
    if not events:
        return
    async with get_client() as client:
        await client.request("POST", "/events", json=[event.model_dump(mode="json") for event in events])


def _round_resource(round_key: str, team_id: int) -> dict[str, str]:
    return {
        "prefect.resource.id": round_resource_id(round_key),
        "prefect.resource.name": round_key,
        "labelrounds.team-id": str(team_id),
    }


async def emit_job_completed(completion: ConfirmedCompletion) -> Event:
    """Emit `labelrounds.job.completed` for a confirmed completion (see the module docstring).

    Args:
        completion: the job completion the API confirmed.

    Returns:
        The event the Prefect server took.
    """
    flow_run_id = await find_round_flow_run(completion.round_key)
    event = Event(
        event=JOB_COMPLETED_EVENT,
        resource=_round_resource(completion.round_key, completion.team_id),
        related=[_flow_run_related(flow_run_id)] if flow_run_id is not None else [],
        payload={
            "team_id": completion.team_id,
            "job_id": completion.job_id,
            "cycle": completion.cycle,
            "finished_at": completion.finished_at,
        },
        id=completion_event_id(completion),
    )
    await send_events([event])
    return event


async def emit_ready_rounds(api: SuperviselyClient, round_key: str) -> list[UUID]:
    """Check each paused run's gate of the round (one `jobs.list` each); emit `labelrounds.round.ready` when ready.

    Args:
        api: a client that may list the round's jobs.
        round_key: the round whose job was completed.

    Returns:
        The paused runs announced ready (or stalled).
    """
    paused = {run.id: run for run in await round_flow_runs(round_key) if is_paused(run)}
    suspended_rounds, _ = group_suspended_runs(list(paused.values()))
    ready: list[Event] = []
    for suspended in suspended_rounds:
        snapshot = await check_suspended_gate(api, suspended)
        reason = resume_reason(snapshot)
        if reason is None or snapshot is None:
            continue
        ready += [
            Event(
                event=ROUND_READY_EVENT,
                resource=_round_resource(suspended.round_key, suspended.team_id),
                related=[_flow_run_related(flow_run_id)],
                payload={"reason": reason, "summary": snapshot.summary(), "job_ids": suspended.gate_job_ids},
                id=ready_event_id(paused[flow_run_id]),
            )
            for flow_run_id in suspended.flow_run_ids
        ]
    await send_events(ready)
    return [UUID(event.related[0].id.removeprefix("prefect.flow-run.")) for event in ready]


@dataclass(frozen=True)
class CompletionAnnounced:
    """What the receiver announced for one confirmed completion."""

    job_event: Event
    ready_runs: list[UUID]


async def announce_completion(api: SuperviselyClient, completion: ConfirmedCompletion) -> CompletionAnnounced:
    """Emit the completion's event, then `labelrounds.round.ready` for the round's paused runs whose gate is ready.

    Args:
        api: the receiver's client (checks the gates' jobs).
        completion: the job completion the API confirmed.
    """
    job_event = await emit_job_completed(completion)
    return CompletionAnnounced(job_event, await emit_ready_rounds(api, completion.round_key))
