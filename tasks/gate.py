"""The review gate: one check per attempt (task retries drive the polling), or a suspended flow run that a watcher resumes."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import pandas as pd
from prefect import Task, task
from prefect.artifacts import acreate_markdown_artifact, acreate_progress_artifact, aupdate_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext, TaskRunContext
from prefect.flow_runs import suspend_flow_run

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, TargetStatus
from labelrounds.steps import gate
from labelrounds.steps.errors import RoundNotReadyError, RoundTimeoutError
from labelrounds.steps.eta import RoundEstimate, estimate_round, resolve_due
from labelrounds.steps.gate import GateSnapshot
from labelrounds.steps.targets import RoundTarget
from tasks.events import announce_check, announce_deadline
from tasks.options import artifact_key
from tasks.retrying import retry_until_ready
from tasks.run_tags import tag_gate_jobs

GateMode = Literal["poll", "suspend"]
#: Tags a round's flow run carries so that a watcher finds the jobs of a suspended round with one listing.
ROUND_TAG_PREFIX = "labelrounds-round:"
TEAM_TAG_PREFIX = "labelrounds-team:"
#: Seconds one check may take (one `jobs.list`, a few pages at most).
CHECK_TIMEOUT_SECONDS = 120.0

GateListener = Callable[[GateSnapshot], None]
#: Called with every snapshot of a check in this process (the CLI draws its progress bar from it).
gate_listeners: list[GateListener] = []
#: Per task run (all attempts of one gate): the progress artifact's id and the last summary published.
_progress_artifacts: dict[UUID, UUID] = {}
_last_summaries: dict[UUID, str] = {}


def gate_progress(snapshot: GateSnapshot) -> float:
    """Percent of the gate's way: images reviewed when the target is completed, else images done."""
    share = snapshot.share_reviewed if snapshot.target is TargetStatus.COMPLETED else snapshot.share_done
    return round(100 * share, 1)


async def publish_progress(
    snapshot: GateSnapshot, round_name: str, cycle: int, estimate: RoundEstimate | None = None
) -> None:
    """Create the gate's progress artifact on the first attempt, update it later; a markdown artifact on changes.

    With an estimate, the description carries the ETA (and deadline, who is behind) and the markdown its table.
    """
    context = TaskRunContext.get()
    if context is None:
        return
    run_id = context.task_run.id
    eta = f"; {estimate.summary()}" if estimate is not None else ""
    description = f"Round {round_name}, cycle {cycle}: {snapshot.summary()}{eta}"
    if run_id not in _progress_artifacts:
        _progress_artifacts[run_id] = await acreate_progress_artifact(
            gate_progress(snapshot), description=description
        )
    else:
        await aupdate_progress_artifact(_progress_artifacts[run_id], gate_progress(snapshot), description=description)
    if _last_summaries.get(run_id) != description:
        _last_summaries[run_id] = description
        markdown = snapshot.markdown() + (f"\n\n{estimate.markdown()}" if estimate is not None else "")
        await acreate_markdown_artifact(
            key=artifact_key(round_name, "gate-cycle", cycle), markdown=markdown, description=description
        )


def forget_progress() -> None:
    """Drop this task run's progress bookkeeping once its gate is decided (a served process lives long)."""
    context = TaskRunContext.get()
    if context is not None:
        _progress_artifacts.pop(context.task_run.id, None)
        _last_summaries.pop(context.task_run.id, None)


@task(
    name="check-review",
    task_run_name="gate-{round_name}-cycle-{cycle}",
    retry_condition_fn=retry_until_ready,
    timeout_seconds=CHECK_TIMEOUT_SECONDS,
    cache_policy=NO_CACHE,
    persist_result=False,  # each attempt checks again; nothing reads a check back
)
async def check_review(
    settings: ConnectionSettings,
    team_id: int,
    job_ids: list[int],
    target: TargetStatus,
    cycle: int,
    round_name: str = "round",
    round_key: str | None = None,
    due: datetime | None = None,
) -> GateSnapshot:
    """Check the cycle's jobs once (one `jobs.list`), publish progress, raise RoundNotReadyError until all reached `target`.

    Each check also estimates the finish (no extra API call) for the artifacts and, with a round key, emits the
    round's events: the cycle's end, a stall, the deadline at risk or recovered (`tasks.events`).

    Args:
        settings: the connection.
        team_id: the round's team.
        job_ids: the jobs of the cycle the gate waits for.
        target: the status every job must reach (on_review or completed).
        cycle: the cycle (0 first pass, then rework cycles), for names.
        round_name: the round's name, for names and artifact keys.
        round_key: the round's key, the events' resource (None: no event).
        due: the round's resolved deadline (`round_due`), or None.
    """
    async with SuperviselyClient(settings) as api:
        snapshot = await gate.check_round_jobs(api, team_id, job_ids, target)
    return await decide_check(snapshot, cycle, round_name, round_key, due)


async def decide_check(
    snapshot: GateSnapshot, cycle: int, round_name: str, round_key: str | None, due: datetime | None
) -> GateSnapshot:
    """After one check (of jobs or queues): listeners, ETA, progress artifacts, events; raise until ready."""
    for listener in list(gate_listeners):
        listener(snapshot)
    estimate = estimate_round(snapshot, due)
    await publish_progress(snapshot, round_name, cycle, estimate)
    if round_key is not None:
        announce_check(snapshot, estimate, round_key, cycle)
        await announce_deadline(snapshot, estimate, round_key, cycle)
    if snapshot.ready or snapshot.stalled_job_ids:
        forget_progress()
    snapshot.raise_if_not_ready()
    return snapshot


async def tag_round_run(round_key: str, team_id: int) -> list[str]:
    """Add `labelrounds-round:<key>` and `labelrounds-team:<id>` to the flow run's tags (before any suspension).

    Called in the flow, not a task: two Prefect API requests, which Prefect's client retries itself; a task run
    around them cost more orchestration (its states and events) than the work.

    Args:
        round_key: the round's key (`<round name>@<project id>`).
        team_id: the round's team.
    """
    context = FlowRunContext.get()
    flow_run_id = context.flow_run.id if context is not None and context.flow_run is not None else None
    if flow_run_id is None:
        raise RuntimeError("tag_round_run must run inside a flow run")
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        wanted = [f"{ROUND_TAG_PREFIX}{round_key}", f"{TEAM_TAG_PREFIX}{team_id}"]
        tags = [*flow_run.tags, *(tag for tag in wanted if tag not in flow_run.tags)]
        if tags != flow_run.tags:
            await client.update_flow_run(flow_run_id, tags=tags)
    return tags


def polling_retries(spec: RoundSpec) -> int:
    """Retries that make the polling gate last the round's timeout: ceil(timeout / poll interval)."""
    return math.ceil(spec.timeout_seconds / spec.poll_interval_seconds)


def require_deployment_for_suspend() -> None:
    """Refuse suspend mode outside a deployment's flow run (Prefect can only reschedule those); call before writes."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None:
        raise ValueError(
            "gate_mode='suspend' needs a flow run created from a deployment (Prefect reschedules only those); "
            "run the flow directly with gate_mode='poll'"
        )


async def round_started_at() -> datetime:
    """When the flow run first started (kept across suspensions and resumes); now outside a flow run."""
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None:
        return datetime.now(UTC)
    if run.start_time is None:  # the context's copy predates the Running state: ask the server once
        async with get_client() as client:
            run = await client.read_flow_run(run.id)
    return run.start_time or datetime.now(UTC)


async def round_due(spec: RoundSpec) -> datetime | None:
    """The round's deadline as a date-time, a duration counted from the flow run's first start.

    Raises:
        DueInPastError: the deadline was already past when the round first started.
    """
    if spec.due is None:
        return None
    return resolve_due(spec.due, await round_started_at())


def _seconds_since_run_start() -> float:
    """Seconds since the flow run first started (kept across suspensions)."""
    context = FlowRunContext.get()
    started = context.flow_run.start_time if context is not None and context.flow_run is not None else None
    return (datetime.now(UTC) - started).total_seconds() if started is not None else 0.0


def timeout_error(spec: RoundSpec, cycle: int, detail: str) -> RoundTimeoutError:
    """The round's clear timeout failure; the jobs are left as they are."""
    return RoundTimeoutError(
        f"round {spec.round_name!r}: the jobs of cycle {cycle} did not reach {spec.target_status.value} within "
        f"{spec.timeout_seconds:g} s ({detail}); the jobs are left as they are"
    )


async def wait_for_review(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    cycle: int,
    gate_mode: GateMode = "poll",
) -> GateSnapshot:
    """Wait (in a flow) until the cycle's jobs reached the target: poll through task retries, or suspend the run.

    Poll: `check_review` retries every poll interval up to the timeout. Suspend: one check; if not ready the flow
    run is suspended (it exits and holds no worker) with the time left of the round's timeout, and a watcher
    resumes it; the resumed run re-runs the flow from the top and comes back here.

    Raises:
        RoundTimeoutError: the jobs did not reach the target in time (jobs left as they are).
        RoundStalledError: some jobs were stopped or removed.
    """
    job_ids = [int(job_id) for job_id in jobs["job_id"]]
    due = await round_due(spec)
    arguments = (settings, target.team.id, job_ids, spec.target_status, cycle, spec.round_name, target.round_key, due)
    # The watcher checks exactly these jobs, so a removed one shows as stalled.
    return await wait_at_gate(check_review, arguments, spec, cycle, gate_mode, lambda: tag_gate_jobs(job_ids))


async def wait_at_gate(
    check: Task[..., Coroutine[Any, Any, GateSnapshot]],
    arguments: tuple[Any, ...],
    spec: RoundSpec,
    cycle: int,
    gate_mode: GateMode,
    before_suspending: Callable[[], Awaitable[None]],
) -> GateSnapshot:
    """Run a gate-check task until ready: retried every poll interval (poll), or once and then suspend the run.

    Args:
        check: the check task (raises RoundNotReadyError until ready).
        arguments: its arguments.
        spec: the round (poll interval, timeout).
        cycle: the cycle, for names.
        gate_mode: "poll" or "suspend".
        before_suspending: tags the run for the watcher (what to check), right before it suspends.
    """
    if gate_mode == "poll":
        gate_check = check.with_options(retries=polling_retries(spec), retry_delay_seconds=spec.poll_interval_seconds)
        try:
            return await gate_check(*arguments)
        except RoundNotReadyError as error:
            raise timeout_error(spec, cycle, str(error)) from None
    try:
        return await check(*arguments)
    except RoundNotReadyError as error:
        remaining = spec.timeout_seconds - _seconds_since_run_start()
        if remaining <= 0:
            raise timeout_error(spec, cycle, str(error)) from None
        await before_suspending()
        # A fresh key each time: a key that fired before is ignored by Prefect, and the run would not wait.
        await suspend_flow_run(timeout=math.ceil(remaining), key=f"gate-cycle-{cycle}-{uuid4().hex}")  # type: ignore[misc]
        raise RuntimeError("the flow run was not suspended") from error
