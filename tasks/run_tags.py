"""Tags a round's flow run carries for the watcher: the round, its team, and the jobs or queues its gate waits for."""

from __future__ import annotations

from collections.abc import Iterable

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

#: The jobs the run's gate waits for, refreshed at each suspension, so the watcher checks exactly those.
GATE_JOBS_TAG_PREFIX = "labelrounds-gate-jobs:"
#: The labeling queues a queue-mode round's gate waits for (one `labeling-queues.info` each per watcher check).
GATE_QUEUES_TAG_PREFIX = "labelrounds-gate-queues:"


def _ids_tag(prefix: str, ids: Iterable[int]) -> str:
    """`prefix` followed by the sorted distinct ids, comma-separated."""
    return prefix + ",".join(str(one) for one in sorted(set(ids)))


def _ids_of(tags: Iterable[str], prefix: str) -> list[int] | None:
    """The ids of the first tag with `prefix`; None when there is none (or it is unreadable)."""
    for tag in tags:
        if tag.startswith(prefix):
            parts = tag.removeprefix(prefix).split(",")
            return [int(part) for part in parts] if all(part.isdigit() for part in parts) else None
    return None


async def _replace_tag(prefix: str, tag: str) -> None:
    """Replace the current flow run's tag with `prefix` by `tag` (nothing outside a flow run)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    async with get_client() as client:
        run = await client.read_flow_run(context.flow_run.id)
        tags = [existing for existing in run.tags if not existing.startswith(prefix)]
        await client.update_flow_run(run.id, tags=[*tags, tag])


def gate_jobs_tag(job_ids: Iterable[int]) -> str:
    """The tag naming the gate's jobs: 'labelrounds-gate-jobs:12,15,17' (sorted ids)."""
    return _ids_tag(GATE_JOBS_TAG_PREFIX, job_ids)


def gate_jobs_of(tags: Iterable[str]) -> list[int] | None:
    """The job ids of a run's gate-jobs tag; None when the run has none (or an unreadable one)."""
    return _ids_of(tags, GATE_JOBS_TAG_PREFIX)


async def tag_gate_jobs(job_ids: Iterable[int]) -> None:
    """Replace the current flow run's gate-jobs tag with these jobs (call right before the run suspends)."""
    await _replace_tag(GATE_JOBS_TAG_PREFIX, gate_jobs_tag(job_ids))


def gate_queues_tag(queue_ids: Iterable[int]) -> str:
    """The tag naming a queue-mode gate's queues: 'labelrounds-gate-queues:3,4' (sorted ids)."""
    return _ids_tag(GATE_QUEUES_TAG_PREFIX, queue_ids)


def gate_queues_of(tags: Iterable[str]) -> list[int] | None:
    """The queue ids of a run's gate-queues tag; None when the run has none (a static round)."""
    return _ids_of(tags, GATE_QUEUES_TAG_PREFIX)


async def tag_gate_queues(queue_ids: Iterable[int]) -> None:
    """Replace the current flow run's gate-queues tag with these queues (call right before the run suspends)."""
    await _replace_tag(GATE_QUEUES_TAG_PREFIX, gate_queues_tag(queue_ids))
