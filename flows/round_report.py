"""Report on existing jobs chosen by round, team, project, status or labeler: artifacts, CSV files, DataFrames."""

from __future__ import annotations

from prefect import flow

from labelrounds.client.models import JobStatus
from labelrounds.steps.selection import JobFilter
from tasks.credentials import aconnection_settings
from tasks.report import PublishedReport, report_jobs


@flow(name="round-report", flow_run_name="report-team-{team}", log_prints=False)
async def round_report(
    team: int | str,
    project: int | str | None = None,
    round_name: str | None = None,
    round_key: str | None = None,
    status: list[JobStatus] | None = None,
    labeler: str | None = None,
    credentials_block: str | None = None,
    report_dir: str | None = None,
) -> PublishedReport:
    """Report per job and per labeler on the team's jobs that match every given filter (archived ones included).

    Args:
        team: the team's id or name.
        project: a project's id or name (None: every project of the team).
        round_name: only jobs of rounds with this name.
        round_key: only jobs of this round ('<name>@<project id>').
        status: only jobs in these statuses.
        labeler: only jobs of this labeler (login).
        credentials_block: name of a SuperviselyCredentials block; None reads the environment.
        report_dir: directory for the CSV files (None: artifacts only).
    """
    settings = await aconnection_settings(credentials_block)
    job_filter = JobFilter(round_name=round_name, round_key=round_key, statuses=status or [], labeler=labeler)
    title = round_key or round_name or f"jobs of team {team}"
    return await report_jobs(settings, team, project, job_filter, title, report_dir)
