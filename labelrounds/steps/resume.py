"""Whether a suspended round can resume: its current cycle's jobs, found and checked with one listing.

A round waiting in suspend mode holds no process, so whoever wakes it (the watcher flow) knows only the round's
key, its team and its target status. The jobs it waits for are the round's jobs of the highest cycle (each gate
waits on the cycle it just created); `check_suspended_round` lists the project's jobs once and checks those.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import LabelingJobInfo
from labelrounds.round_spec import TargetStatus
from labelrounds.steps.gate import GateSnapshot, JobProgress
from labelrounds.steps.lineage import JobLineage, list_round_jobs


def project_id_of(round_key: str) -> int:
    """The project id inside a round key `<round name>@<project id>`.

    Raises:
        ValueError: the key does not end with `@<positive integer>`.
    """
    _, separator, tail = round_key.rpartition("@")
    if not separator or not tail.isdigit() or int(tail) <= 0:
        raise ValueError(f"round key {round_key!r} is not '<round name>@<project id>'")
    return int(tail)


def current_cycle_snapshot(
    jobs: Sequence[tuple[LabelingJobInfo, JobLineage]], target: TargetStatus
) -> GateSnapshot | None:
    """The gate snapshot of the round's highest cycle, or None when the round has no job at all."""
    if not jobs:
        return None
    cycle = max(lineage.cycle for _, lineage in jobs)
    current = sorted((job for job, lineage in jobs if lineage.cycle == cycle), key=lambda job: job.id)
    return GateSnapshot(
        target=target,
        checked_at=datetime.now(UTC),
        jobs=[JobProgress.of(job, target) for job in current],
        missing_job_ids=[],
    )


async def check_suspended_round(
    api: SuperviselyClient, team_id: int, round_key: str, target: TargetStatus
) -> GateSnapshot | None:
    """Check a round's current cycle with one `jobs.list` of its project; None when it has no job."""
    jobs = await list_round_jobs(api, team_id, project_id_of(round_key), round_key)
    return current_cycle_snapshot(jobs, target)
