"""Existing jobs chosen by filters (round, project, status, labeler, age) for reports and clean-ups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.client.models import JobStatus, LabelingJobInfo
from labelrounds.steps.lineage import JobLineage
from labelrounds.steps.targets import resolve_project, resolve_team

#: Columns of a clean-up plan (one row per selected job).
CLEANUP_COLUMNS: tuple[str, ...] = (
    "job_id",
    "job_name",
    "round_key",
    "labeler",
    "status",
    "archived",
    "created_at",
    "age_days",
    "action",
)
#: Statuses of jobs that are over; a clean-up touches only these unless told otherwise.
FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.REVIEW_COMPLETED, JobStatus.STOPPED)


class CleanupAction(StrEnum):
    """What a clean-up does to each selected job."""

    ARCHIVE = "archive"
    REMOVE = "remove"


class JobFilter(BaseModel):
    """Which existing jobs to take; every given criterion must hold (archived jobs are included)."""

    model_config = ConfigDict(frozen=True)

    project_id: int | None = Field(default=None, description="Only jobs of this project.")
    round_name: str | None = Field(default=None, description="Only jobs of rounds with this name (any project).")
    round_key: str | None = Field(default=None, description="Only jobs of this round ('<name>@<project id>').")
    statuses: list[JobStatus] = Field(default_factory=list, description="Only jobs in these statuses (empty: any).")
    labeler: str | None = Field(default=None, description="Only jobs of this labeler (login).")
    created_before: datetime | None = Field(default=None, description="Only jobs created before this time.")

    def matches(self, job: LabelingJobInfo, lineage: JobLineage | None) -> bool:
        """Whether the job passes every criterion."""
        round_key = lineage.round if lineage is not None else None
        checks = (
            self.round_key is None or round_key == self.round_key,
            self.round_name is None or (round_key or "").rpartition("@")[0] == self.round_name,
            not self.statuses or job.status in self.statuses,
            self.labeler is None or job.labeler_login == self.labeler,
            self.created_before is None or (job.created_at is not None and job.created_at < self.created_before),
        )
        return all(checks)


async def find_jobs(
    api: SuperviselyClient, team_id: int, job_filter: JobFilter
) -> list[tuple[LabelingJobInfo, JobLineage | None]]:
    """The team's jobs (archived included) that pass the filter, by id, from one `jobs.list` call."""
    filters = [Filter.eq("projectId", job_filter.project_id)] if job_filter.project_id is not None else []
    jobs = await api.list_jobs(team_id, filters, show_disabled=True)
    found = [(job, JobLineage.of(job)) for job in sorted(jobs, key=lambda job: job.id)]
    return [(job, lineage) for job, lineage in found if job_filter.matches(job, lineage)]


def plan_cleanup(
    jobs: Sequence[tuple[LabelingJobInfo, JobLineage | None]], action: CleanupAction, now: datetime | None = None
) -> pd.DataFrame:
    """What a clean-up would do to each job (CLEANUP_COLUMNS); archiving an archived job is 'skip'."""
    moment = now or datetime.now(UTC)
    rows = []
    for job, lineage in jobs:
        created = job.created_at
        age = (moment - created) / timedelta(days=1) if created is not None else None
        skip = action is CleanupAction.ARCHIVE and job.disabled
        rows.append(
            (
                job.id,
                job.name,
                lineage.round if lineage is not None else None,
                job.labeler_login,
                job.status.value,
                job.disabled,
                created,
                round(age, 2) if age is not None else None,
                "skip" if skip else action.value,
            )
        )
    return pd.DataFrame.from_records(rows, columns=list(CLEANUP_COLUMNS))


async def apply_cleanup(api: SuperviselyClient, plan: pd.DataFrame) -> pd.DataFrame:
    """Carry out a clean-up plan (archive one by one, remove in batches); return the plan with a `done` column."""
    archive = [int(job_id) for job_id in plan.loc[plan["action"] == CleanupAction.ARCHIVE.value, "job_id"]]
    remove = [int(job_id) for job_id in plan.loc[plan["action"] == CleanupAction.REMOVE.value, "job_id"]]
    for job_id in archive:
        await api.archive_job(job_id)
    if remove:
        await api.remove_jobs(remove)
    return plan.assign(done=plan["action"] != "skip")


async def find_team_jobs(
    api: SuperviselyClient, team: int | str, project: int | str | None, job_filter: JobFilter
) -> list[tuple[LabelingJobInfo, JobLineage | None]]:
    """`find_jobs` with the team (and optionally the project, which sets `project_id`) given by id or name.

    Raises:
        TargetNotFoundError: no such team or project.
    """
    found = await resolve_team(api, team)
    if project is not None:
        resolved = await resolve_project(api, found, project)
        job_filter = job_filter.model_copy(update={"project_id": resolved.id})
    return await find_jobs(api, found.id, job_filter)
