"""Whether a suspended round can resume: its current cycle's jobs, found and checked with one listing.

A round waiting in suspend mode holds no process, so whoever wakes it (the watcher flow) knows only the round's
key, its team, its target status and, when the run recorded them, the ids of the jobs its gate waits for. With the
ids, `check_suspended_round` runs the gate's own check (one `jobs.list`), so a removed job shows as missing; without
them it takes the round's jobs of the highest cycle from one listing of the project (each gate waits on the cycle
it just created). `resume_reason` decides: a round is resumed when its jobs are ready *or* stalled (a job stopped
or removed can never reach the target), so the resumed run's gate fails at once instead of at its timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import LabelingJobInfo
from labelrounds.round_spec import TargetStatus
from labelrounds.steps.gate import GateSnapshot, JobProgress, check_round_jobs
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


ResumeReason = Literal["ready", "stalled"]


async def check_suspended_round(
    api: SuperviselyClient,
    team_id: int,
    round_key: str,
    target: TargetStatus,
    gate_job_ids: Sequence[int] | None = None,
) -> GateSnapshot | None:
    """Check a suspended round's jobs with one `jobs.list`; None when it has no job to check.

    Args:
        api: the client.
        team_id: the round's team.
        round_key: the round's key (`<round name>@<project id>`).
        target: the status the round waits for.
        gate_job_ids: the jobs the round's gate waits for, when known (then a removed one counts as missing);
            None: the round's jobs of its highest cycle.
    """
    if gate_job_ids:
        return await check_round_jobs(api, team_id, gate_job_ids, target)
    jobs = await list_round_jobs(api, team_id, project_id_of(round_key), round_key)
    return current_cycle_snapshot(jobs, target)


def resume_reason(snapshot: GateSnapshot | None) -> ResumeReason | None:
    """Why a suspended round should be resumed now: its jobs are ready, or stalled (its gate then fails at once).

    None: keep it suspended (some jobs are still on their way, or the round has no job to check).
    """
    if snapshot is None:
        return None
    if snapshot.stalled_job_ids:
        return "stalled"
    return "ready" if snapshot.ready else None
