"""Clean up old jobs: archive or remove them by filter and age; a dry run (the default) only shows what it would do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from prefect import flow

from labelrounds.client.models import JobStatus
from labelrounds.steps.selection import FINISHED_STATUSES, CleanupAction, JobFilter
from tasks.cleanup import apply_cleanup, plan_cleanup, publish_cleanup
from tasks.credentials import aconnection_settings


@flow(name="cleanup-jobs", flow_run_name="cleanup-{team}-{action}", log_prints=False)
async def cleanup_jobs(
    team: int | str,
    action: CleanupAction = CleanupAction.ARCHIVE,
    older_than_days: float = 30.0,
    project: int | str | None = None,
    round_name: str | None = None,
    status: list[JobStatus] | None = None,
    labeler: str | None = None,
    dry_run: bool = True,
    credentials_block: str | None = None,
) -> pd.DataFrame:
    """Archive or remove the jobs created more than `older_than_days` ago that match the filters.

    Args:
        team: the team's id or name.
        action: archive (hide, reversible) or remove (delete).
        older_than_days: only jobs created at least this many days ago (0: any age).
        project: a project's id or name (None: every project of the team).
        round_name: only jobs of rounds with this name.
        status: only jobs in these statuses (None: finished ones: completed, review_completed, stopped).
        labeler: only jobs of this labeler (login).
        dry_run: only plan and publish what would be done (the default).
        credentials_block: name of a SuperviselyCredentials block; None reads the environment.
    """
    if older_than_days < 0:
        raise ValueError(f"older_than_days must be 0 or more, got {older_than_days}")
    settings = await aconnection_settings(credentials_block)
    job_filter = JobFilter(
        round_name=round_name,
        statuses=list(FINISHED_STATUSES) if status is None else status,
        labeler=labeler,
        created_before=datetime.now(UTC) - timedelta(days=older_than_days),
    )
    plan = await plan_cleanup(settings, team, project, job_filter, action)
    done = plan.assign(done=False) if dry_run else await apply_cleanup(settings, team, plan)
    await publish_cleanup(done, team, dry_run)
    return done
