"""Tags a round's flow run carries for the watcher: the round, its team, and the jobs its gate waits for."""

from __future__ import annotations

from collections.abc import Iterable

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

#: The jobs the run's gate waits for, refreshed at each suspension, so the watcher checks exactly those.
GATE_JOBS_TAG_PREFIX = "labelrounds-gate-jobs:"


def gate_jobs_tag(job_ids: Iterable[int]) -> str:
    """The tag naming the gate's jobs: 'labelrounds-gate-jobs:12,15,17' (sorted ids)."""
    return GATE_JOBS_TAG_PREFIX + ",".join(str(job_id) for job_id in sorted(set(job_ids)))


def gate_jobs_of(tags: Iterable[str]) -> list[int] | None:
    """The job ids of a run's gate-jobs tag; None when the run has none (or an unreadable one)."""
    for tag in tags:
        if tag.startswith(GATE_JOBS_TAG_PREFIX):
            parts = tag.removeprefix(GATE_JOBS_TAG_PREFIX).split(",")
            return [int(part) for part in parts] if all(part.isdigit() for part in parts) else None
    return None


async def tag_gate_jobs(job_ids: Iterable[int]) -> None:
    """Replace the current flow run's gate-jobs tag with these jobs (call right before the run suspends)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    async with get_client() as client:
        run = await client.read_flow_run(context.flow_run.id)
        tags = [tag for tag in run.tags if not tag.startswith(GATE_JOBS_TAG_PREFIX)]
        await client.update_flow_run(run.id, tags=[*tags, gate_jobs_tag(job_ids)])
