"""The review gate: check the round's jobs with one listing and tell whether every job reached the target status.

`check_round_jobs` looks once and returns a snapshot; it never loops (the tasks layer polls through Prefect
retries, so the waiting shows in the UI; the CLI runs that flow too). `wait_until_ready` is the loop for callers
without Prefect: the in-process composition (`steps.sequence`), the bench and the step tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.client.models import JobStatus, LabelingJobInfo, WireJobStatus
from labelrounds.round_spec import TargetStatus
from labelrounds.steps.errors import RoundNotReadyError, RoundStalledError, RoundTimeoutError
from labelrounds.steps.tables import frame_markdown

#: Job statuses at which a job counts as having reached each target. A status the server added since this
#: version (kept by the client, `known` False) is in none of them: such a job is neither ready nor stalled.
REACHED_STATUSES: dict[TargetStatus, frozenset[JobStatus]] = {
    TargetStatus.ON_REVIEW: frozenset({JobStatus.ON_REVIEW, JobStatus.REVIEW_COMPLETED, JobStatus.COMPLETED}),
    TargetStatus.COMPLETED: frozenset({JobStatus.REVIEW_COMPLETED, JobStatus.COMPLETED}),
}

#: Columns of `GateSnapshot.frame()`.
PROGRESS_COLUMNS: tuple[str, ...] = (
    "job_id",
    "job_name",
    "labeler",
    "status",
    "images",
    "done",
    "awaiting_review",
    "accepted",
    "rejected",
    "reached",
)


class JobProgress(BaseModel):
    """One job's status and counters at a check."""

    model_config = ConfigDict(frozen=True)

    job_id: int
    job_name: str
    labeler: str | None
    status: WireJobStatus
    images: int
    done: int = Field(description="Images the labeler finished (done, accepted or rejected).")
    awaiting_review: int
    accepted: int
    rejected: int
    reached: bool
    started_at: datetime | None = Field(default=None, description="When the labeler first opened the job.")
    submitted_at: datetime | None = Field(
        default=None, description="When the labeler last submitted the job for review (None while labeling)."
    )

    @classmethod
    def of(cls, job: LabelingJobInfo, target: TargetStatus) -> JobProgress:
        """The progress of a listed job towards `target`."""
        return cls(
            job_id=job.id,
            job_name=job.name,
            labeler=job.labeler_login,
            status=job.status,
            images=job.images_count,
            done=job.finished_images_count,
            awaiting_review=job.progress_images_count,
            accepted=job.accepted_images_count,
            rejected=job.rejected_images_count,
            reached=job.status in REACHED_STATUSES[target],
            started_at=job.started_at,
            submitted_at=job.annotation_finished_at,
        )


class GateSnapshot(BaseModel):
    """The round's jobs at one check: per-job progress, totals, and whether the gate opens."""

    model_config = ConfigDict(frozen=True)

    target: TargetStatus
    checked_at: datetime
    jobs: list[JobProgress]
    missing_job_ids: list[int] = Field(description="Jobs that no longer exist (removed).")

    @property
    def images(self) -> int:
        """Images over all checked jobs."""
        return sum(job.images for job in self.jobs)

    @property
    def done(self) -> int:
        """Images the labelers finished (done, accepted or rejected)."""
        return sum(job.done for job in self.jobs)

    @property
    def reviewed(self) -> int:
        """Images the reviewer decided on (accepted or rejected)."""
        return sum(job.accepted + job.rejected for job in self.jobs)

    @property
    def share_done(self) -> float:
        """Done images / images (1.0 when there are none)."""
        return self.done / self.images if self.images else 1.0

    @property
    def share_reviewed(self) -> float:
        """Reviewed images / images (1.0 when there are none)."""
        return self.reviewed / self.images if self.images else 1.0

    @property
    def jobs_reached(self) -> int:
        """How many jobs reached the target status."""
        return sum(job.reached for job in self.jobs)

    @property
    def stalled_job_ids(self) -> list[int]:
        """Jobs that can never reach the target: stopped ones, and removed ones."""
        stopped = [job.job_id for job in self.jobs if job.status is JobStatus.STOPPED and not job.reached]
        return sorted(stopped + self.missing_job_ids)

    @property
    def unknown_status_job_ids(self) -> list[int]:
        """Jobs in a status this version does not know (counted as not reached)."""
        return sorted(job.job_id for job in self.jobs if not job.status.known)

    @property
    def ready(self) -> bool:
        """Whether every job reached the target status (and none is missing)."""
        return not self.missing_job_ids and all(job.reached for job in self.jobs)

    def summary(self) -> str:
        """One line: jobs at target, shares done and reviewed."""
        total = len(self.jobs) + len(self.missing_job_ids)
        return (
            f"{self.jobs_reached}/{total} jobs {self.target.value}; "
            f"{self.done}/{self.images} images done ({self.share_done:.0%}), "
            f"{self.reviewed} reviewed ({self.share_reviewed:.0%})"
        )

    def frame(self) -> pd.DataFrame:
        """Per-job progress, columns PROGRESS_COLUMNS."""
        rows = [
            (
                job.job_id,
                job.job_name,
                job.labeler,
                job.status.value,
                job.images,
                job.done,
                job.awaiting_review,
                job.accepted,
                job.rejected,
                job.reached,
            )
            for job in self.jobs
        ]
        return pd.DataFrame.from_records(rows, columns=list(PROGRESS_COLUMNS))

    def markdown(self) -> str:
        """A short markdown report of this check, for a progress artifact."""
        table = self.frame().loc[
            :, ["job_id", "job_name", "labeler", "status", "images", "done", "accepted", "rejected"]
        ]
        missing = "".join(f"\n\nJob {job_id} no longer exists." for job_id in self.missing_job_ids)
        if self.unknown_status_job_ids:
            missing += (
                f"\n\nJobs {self.unknown_status_job_ids} are in a status this version does not know;"
                " they count as not reached."
            )
        stamp = self.checked_at.isoformat(timespec="seconds")
        return f"**{self.summary()}** (checked {stamp})\n\n{frame_markdown(table)}{missing}"

    def raise_if_not_ready(self) -> None:
        """Raise when the gate is closed: RoundStalledError if it can never open, else RoundNotReadyError."""
        if self.stalled_job_ids:
            raise RoundStalledError(
                f"jobs {self.stalled_job_ids} can never reach {self.target.value} (stopped or removed); "
                f"{self.summary()}"
            )
        if not self.ready:
            raise RoundNotReadyError(f"not ready: {self.summary()}")


async def check_round_jobs(
    api: SuperviselyClient, team_id: int, job_ids: Iterable[int], target: TargetStatus
) -> GateSnapshot:
    """Check the jobs once, with one `jobs.list` call (`id in job_ids`, archived ones included)."""
    wanted = sorted({int(job_id) for job_id in job_ids})
    if not wanted:
        raise ValueError("the gate needs at least one job id")
    listed = await api.list_jobs(team_id, [Filter.in_("id", wanted)], show_disabled=True)
    by_id = {job.id: job for job in listed}
    return GateSnapshot(
        target=target,
        checked_at=datetime.now(UTC),
        jobs=[JobProgress.of(by_id[job_id], target) for job_id in wanted if job_id in by_id],
        missing_job_ids=[job_id for job_id in wanted if job_id not in by_id],
    )


async def wait_until_ready(
    api: SuperviselyClient,
    team_id: int,
    job_ids: Sequence[int],
    target: TargetStatus,
    *,
    poll_interval: float,
    timeout: float,
    on_check: Callable[[GateSnapshot], Awaitable[None] | None] | None = None,
    rebalance: Callable[[GateSnapshot], Awaitable[Sequence[int]]] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> GateSnapshot:
    """Check every `poll_interval` seconds until every job reached `target`; return the last snapshot.

    Args:
        api: the client.
        team_id: the round's team.
        job_ids: the jobs to wait for.
        target: the status to reach.
        poll_interval: seconds between checks.
        timeout: overall seconds to wait; the last check happens at the deadline.
        on_check: called with each snapshot (e.g. to draw progress); may be a coroutine function.
        rebalance: called with each snapshot that is not ready (adaptive rounds, `steps.rebalance.Rebalancer`);
            returns the ids of jobs it created, which the gate then waits for too.
        sleep: the coroutine used to wait (tests pass a fake).
        clock: monotonic clock (tests pass a fake).

    Raises:
        RoundStalledError: some jobs were stopped or removed.
        RoundTimeoutError: the deadline passed; the jobs are left as they are.
    """
    if poll_interval <= 0 or timeout <= 0:
        raise ValueError("poll_interval and timeout must be positive")
    deadline = clock() + timeout
    waited_for = list(job_ids)
    while True:
        snapshot = await check_round_jobs(api, team_id, waited_for, target)
        if on_check is not None:
            outcome = on_check(snapshot)
            if outcome is not None:
                await outcome
        if snapshot.ready:
            return snapshot
        if snapshot.stalled_job_ids:
            snapshot.raise_if_not_ready()
        remaining = deadline - clock()
        if remaining <= 0:
            raise RoundTimeoutError(
                f"the round's jobs did not reach {target.value} within {timeout:g} s: {snapshot.summary()}"
            )
        if rebalance is not None:
            waited_for += await rebalance(snapshot)
        await sleep(min(poll_interval, remaining))
