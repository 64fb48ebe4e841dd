"""Prefect events a round emits: started, progress, each cycle's end, stalled, deadline at risk (and recovered),
finished, failed.

Every event's resource is the round, `labelrounds.round.<round key>`, related to the round's flow run; its payload
carries the figures a person needs (progress, ETA, deadline, who is behind, a link to the run when the UI's
address is known) and never a token or password. An event's id is derived from the flow run, the event and what
it is about (the cycle, the at-risk episode), so the same announcement made again by a resumed run (a suspended
round re-runs its flow from the top) is the same event, which the Prefect server stores once.

"Progress" is announced at a gate check whose counts (images done, reviewed, jobs at the target) differ from the
last ones this process announced for the cycle (a cycle starts from zero), so a check that saw nothing new emits
nothing; the id is derived from the counts, so a resumed run seeing the same counts repeats the same event. The
no-progress alert (`deployments.automations`) expects it.

"At risk" is announced once when the estimate passes the deadline, and again only after a "recovered" event. The
state lives in the process (poll mode) and, for a process that has not seen the round yet (a resumed suspended
run), is derived from the at-risk / recovered events already emitted for the round and this flow run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from prefect.client.orchestration import get_client
from prefect.events import Event, emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.runtime import flow_run
from prefect.settings import get_current_settings

from labelrounds.steps.eta import RoundEstimate
from labelrounds.steps.gate import GateSnapshot

logger = logging.getLogger(__name__)

ROUND_STARTED = "labelrounds.round.started"
ROUND_PROGRESS = "labelrounds.round.progress"
CYCLE_FINISHED = "labelrounds.round.cycle.finished"
ROUND_STALLED = "labelrounds.round.stalled"
DEADLINE_AT_RISK = "labelrounds.round.deadline.at-risk"
DEADLINE_RECOVERED = "labelrounds.round.deadline.recovered"
ROUND_FINISHED = "labelrounds.round.finished"
ROUND_FAILED = "labelrounds.round.failed"
ROUND_RESOURCE_PREFIX = "labelrounds.round."
#: The longest error message a failure event carries (our errors name the problem, never a secret).
MAX_ERROR_CHARS = 500


def round_resource_id(round_key: str) -> str:
    """The event resource id of a round."""
    return ROUND_RESOURCE_PREFIX + round_key


def current_flow_run_id() -> UUID | None:
    """The id of the flow run this code runs in (from a flow or a task), or None outside one."""
    run_id = flow_run.get_id()
    return UUID(str(run_id)) if run_id else None


def run_link(flow_run_id: UUID | None) -> str | None:
    """The flow run's page in the Prefect UI, when the UI's address is known."""
    ui_url = get_current_settings().ui_url
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui_url and flow_run_id else None


def round_event_id(flow_run_id: UUID, event: str, about: str) -> UUID:
    """The same id for the same announcement of one flow run (what it is `about`: a cycle, an episode)."""
    return uuid5(NAMESPACE_URL, f"labelrounds:{flow_run_id}:{event}:{about}")


def emit_round_event(event: str, round_key: str, payload: Mapping[str, Any], about: str = "") -> Event | None:
    """Emit one round event about `round_key`, related to the current flow run (see the module docstring).

    Args:
        event: the event name (one of this module's constants).
        round_key: the round's key (`<round name>@<project id>`).
        payload: the figures (JSON-ready); the round key, flow run id and run link are added.
        about: what makes this announcement distinct within the flow run (e.g. `cycle-1`); same → same event.

    Returns:
        The event handed to Prefect's events worker (None when events are off in this process).
    """
    run_id = current_flow_run_id()
    related = (
        [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}]
        if run_id is not None
        else []
    )
    return emit_event(
        event=event,
        resource={"prefect.resource.id": round_resource_id(round_key), "prefect.resource.name": round_key},
        related=related,
        payload={
            **payload,
            "round_key": round_key,
            "flow_run_id": None if run_id is None else str(run_id),
            "url": run_link(run_id),
        },
        id=round_event_id(run_id, event, about) if run_id is not None else None,
    )


def progress_payload(snapshot: GateSnapshot, estimate: RoundEstimate, cycle: int) -> dict[str, Any]:
    """The figures of one gate check: jobs and images done/reviewed, the ETA, the deadline and who is behind."""
    return {
        "cycle": cycle,
        "summary": f"{snapshot.summary()}; {estimate.summary()}",
        "jobs": len(snapshot.jobs) + len(snapshot.missing_job_ids),
        "jobs_reached": snapshot.jobs_reached,
        "images": snapshot.images,
        "done": snapshot.done,
        "reviewed": snapshot.reviewed,
        "share_done": round(snapshot.share_done, 4),
        "share_reviewed": round(snapshot.share_reviewed, 4),
        **estimate.payload(),
    }


ProgressCounts = tuple[int, int, int]
NO_PROGRESS: ProgressCounts = (0, 0, 0)
#: Per (flow run, round key): the cycle and counts (done, reviewed, jobs reached) last announced as progress.
_announced_progress: dict[tuple[UUID | None, str], tuple[int, ProgressCounts]] = {}


def progress_counts(snapshot: GateSnapshot) -> ProgressCounts:
    """What counts as progress: images done, images reviewed, jobs at the target."""
    return (snapshot.done, snapshot.reviewed, snapshot.jobs_reached)


def announce_progress(
    snapshot: GateSnapshot, payload: Mapping[str, Any], round_key: str, cycle: int
) -> Event | None:
    """Emit "progress" when the check's counts differ from the last announced for this cycle (none: zeros)."""
    key = (current_flow_run_id(), round_key)
    counts = progress_counts(snapshot)
    last_cycle, last_counts = _announced_progress.get(key, (cycle, NO_PROGRESS))
    if counts == (last_counts if last_cycle == cycle else NO_PROGRESS):
        return None
    _announced_progress[key] = (cycle, counts)
    about = f"cycle-{cycle}-" + "-".join(map(str, counts))
    return emit_round_event(ROUND_PROGRESS, round_key, payload, about=about)


def announce_check(snapshot: GateSnapshot, estimate: RoundEstimate, round_key: str, cycle: int) -> None:
    """After a gate check: progress when counts moved, the cycle's end when ready, a stall when jobs cannot finish."""
    payload = progress_payload(snapshot, estimate, cycle)
    if snapshot.ready:
        _announced_progress.pop((current_flow_run_id(), round_key), None)
        emit_round_event(CYCLE_FINISHED, round_key, payload, about=f"cycle-{cycle}")
        return
    announce_progress(snapshot, payload, round_key, cycle)
    if snapshot.stalled_job_ids:
        stalled = snapshot.stalled_job_ids
        emit_round_event(
            ROUND_STALLED,
            round_key,
            {**payload, "stalled_job_ids": stalled},
            about=f"cycle-{cycle}-{stalled}",
        )


@dataclass
class DeadlineState:
    """Whether the round was last announced at risk, and how many at-risk announcements it made."""

    at_risk: bool = False
    episodes: int = 0


#: Per (flow run, round key): the deadline state this process knows.
_deadline_states: dict[tuple[UUID | None, str], DeadlineState] = {}


async def load_deadline_state(round_key: str, flow_run_id: UUID | None) -> DeadlineState:
    """The deadline state from the at-risk / recovered events already emitted for the round and this flow run."""
    if flow_run_id is None:
        return DeadlineState()
    # The flow run is matched here rather than by the API's related-resource filter, which missed events in tests.
    event_filter = EventFilter(
        event=EventNameFilter(name=[DEADLINE_AT_RISK, DEADLINE_RECOVERED]),
        resource=EventResourceFilter(id=[round_resource_id(round_key)]),
    )
    try:
        async with get_client() as client:
            page = await client.read_events(filter=event_filter, limit=50)
    except Exception as error:  # noqa: BLE001 - without the history, start afresh rather than fail the gate
        logger.warning("could not read the deadline events of round %s: %s", round_key, error)
        return DeadlineState()
    run_resource = f"prefect.flow-run.{flow_run_id}"
    events = sorted(
        (event for event in page.events if any(related.id == run_resource for related in event.related)),
        key=lambda event: event.occurred,
    )
    episodes = sum(event.event == DEADLINE_AT_RISK for event in events)
    return DeadlineState(at_risk=bool(events) and events[-1].event == DEADLINE_AT_RISK, episodes=episodes)


async def announce_deadline(
    snapshot: GateSnapshot, estimate: RoundEstimate, round_key: str, cycle: int
) -> Event | None:
    """Emit "at risk" when the estimate passes the deadline (once), "recovered" when it is back within it.

    Args:
        snapshot: the gate check.
        estimate: its estimate, with the round's deadline.
        round_key: the round's key.
        cycle: the cycle checked.

    Returns:
        The event emitted, or None when the state did not change.
    """
    if estimate.due is None or estimate.ready:
        return None
    run_id = current_flow_run_id()
    key = (run_id, round_key)
    state = _deadline_states.get(key)
    if state is None:
        state = _deadline_states[key] = await load_deadline_state(round_key, run_id)
    if estimate.at_risk == state.at_risk:
        return None
    payload = progress_payload(snapshot, estimate, cycle)
    if estimate.at_risk:
        state.episodes += 1
        state.at_risk = True
        return emit_round_event(DEADLINE_AT_RISK, round_key, payload, about=f"episode-{state.episodes}")
    state.at_risk = False
    return emit_round_event(DEADLINE_RECOVERED, round_key, payload, about=f"episode-{state.episodes}")


def forget_deadline(round_key: str) -> None:
    """Drop this flow run's deadline and progress state of the round once it ended (a served process lives long)."""
    _deadline_states.pop((current_flow_run_id(), round_key), None)
    _announced_progress.pop((current_flow_run_id(), round_key), None)


#: Per flow run: the key of the round it announced as started (a failure later is about that round).
_started_rounds: dict[UUID | None, str] = {}


def announce_started(round_key: str, payload: Mapping[str, Any]) -> Event | None:
    """Emit the round's start (once per flow run: a resumed run repeats the same event) and remember its key."""
    _started_rounds[current_flow_run_id()] = round_key
    return emit_round_event(ROUND_STARTED, round_key, payload)


def announce_finished(round_key: str, payload: Mapping[str, Any]) -> Event | None:
    """Emit the round's finish and forget its per-run state."""
    _started_rounds.pop(current_flow_run_id(), None)
    forget_deadline(round_key)
    return emit_round_event(ROUND_FINISHED, round_key, payload)


def announce_failure(round_name: str, error: BaseException) -> Event | None:
    """Emit the round's failure (the error's type and bounded message) about the round this run started.

    Args:
        round_name: the round's name, the resource when the run failed before it knew the round's key.
        error: what failed the round.
    """
    round_key = _started_rounds.pop(current_flow_run_id(), round_name)
    forget_deadline(round_key)
    message = str(error)
    if len(message) > MAX_ERROR_CHARS:
        message = message[: MAX_ERROR_CHARS - 1] + "…"
    return emit_round_event(ROUND_FAILED, round_key, {"error": type(error).__name__, "message": message})
