"""Tasks: find old jobs by filter and age, and archive or remove them (a dry run only plans)."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.steps import selection
from labelrounds.steps.selection import CleanupAction, JobFilter
from tasks.options import api_task, artifact_key
from tasks.report import table_rows


@api_task("plan-cleanup", "plan-{action}-team-{team}")
async def plan_cleanup(
    settings: ConnectionSettings,
    team: int | str,
    project: int | str | None,
    job_filter: JobFilter,
    action: CleanupAction,
) -> pd.DataFrame:
    """The jobs a clean-up would touch and what it would do to each (CLEANUP_COLUMNS); writes nothing.

    Args:
        settings: the connection.
        team: the team's id or name.
        project: a project's id or name within the team (None: every project).
        job_filter: round, status, labeler and age criteria (`project`, when given, sets its project_id).
        action: archive or remove.
    """
    async with SuperviselyClient(settings) as api:
        return selection.plan_cleanup(await selection.find_team_jobs(api, team, project, job_filter), action)


@api_task("apply-cleanup", "apply-cleanup-{team}")
async def apply_cleanup(settings: ConnectionSettings, team: int | str, plan: pd.DataFrame) -> pd.DataFrame:
    """Archive or remove the jobs of a clean-up plan; returns the plan with a `done` column.

    Args:
        settings: the connection.
        team: the team (for the run name).
        plan: the plan from `plan_cleanup`.
    """
    async with SuperviselyClient(settings) as api:
        return await selection.apply_cleanup(api, plan)


@task(name="publish-cleanup", task_run_name="publish-cleanup-{team}", cache_policy=NO_CACHE)
async def publish_cleanup(plan: pd.DataFrame, team: int | str, dry_run: bool) -> str:
    """Publish a clean-up (planned or done) as a keyed table artifact; return its key.

    Args:
        plan: the plan with its `done` column.
        team: the team (part of the key).
        dry_run: whether nothing was done (in the description).
    """
    key = artifact_key("cleanup", team)
    what = "would" if dry_run else "did"
    counts = plan["action"].value_counts().to_dict() if not plan.empty else {}
    summary = ", ".join(f"{action} {count}" for action, count in sorted(counts.items())) or "nothing"
    await acreate_table_artifact(
        table=table_rows(plan), key=key, description=f"Clean-up of team {team}: {what} {summary}"
    )
    return key
