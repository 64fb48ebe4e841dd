"""Task: the round report as keyed table and markdown artifacts, CSV files and DataFrames."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.steps import report, selection
from labelrounds.steps.report import RoundReport
from labelrounds.steps.selection import JobFilter
from tasks.options import api_task, artifact_key


@dataclass(frozen=True)
class PublishedReport:
    """A report and where it went: artifact keys and CSV paths (empty without a report directory)."""

    report: RoundReport
    artifact_keys: list[str]
    csv_paths: dict[str, str] = field(default_factory=dict)


def table_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as JSON-safe records (timestamps in ISO 8601, NaN as null) for a table artifact."""
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return rows


async def publish(published: RoundReport, title: str, report_dir: str | None) -> PublishedReport:
    """Publish a built report under keys derived from `title`: jobs and labelers tables, a markdown summary; CSVs."""
    keys = {part: artifact_key(title, part) for part in ("jobs", "labelers", "report")}
    # Sent together: three independent requests, one round trip instead of three on the round's critical path.
    await asyncio.gather(
        acreate_table_artifact(
            table=table_rows(published.jobs), key=keys["jobs"], description=f"{title}: one row per job"
        ),
        acreate_table_artifact(
            table=table_rows(published.labelers), key=keys["labelers"], description=f"{title}: one row per labeler"
        ),
        acreate_markdown_artifact(
            markdown=f"# {title}\n\n{published.markdown()}",
            key=keys["report"],
            description=published.totals.summary(),
        ),
    )
    get_run_logger().info("report %s: %s", title, published.totals.summary())
    paths: dict[str, str] = {}
    if report_dir is not None:
        written = report.write_report_csv(published, report_dir, prefix=artifact_key(title))
        paths = {name: str(path) for name, path in written.items()}
    return PublishedReport(report=published, artifact_keys=list(keys.values()), csv_paths=paths)


@api_task("publish-report", "report-{title}")
async def publish_report(
    settings: ConnectionSettings,
    team_id: int,
    project_id: int,
    round_key: str,
    title: str,
    report_dir: str | None = None,
) -> PublishedReport:
    """Build the round's report from one job listing and publish it (artifacts keyed by `title`, CSV files).

    Args:
        settings: the connection.
        team_id: the round's team.
        project_id: the round's project.
        round_key: the round's key (`<round name>@<project id>`).
        title: the report's title; artifact keys and CSV names derive from it (lowercase, dashes).
        report_dir: directory for `<title>_jobs.csv` and `<title>_labelers.csv` (None: no files).
    """
    async with SuperviselyClient(settings) as api:
        built = await report.build_round_report(api, team_id, project_id, round_key)
    return await publish(built, title, report_dir)


@api_task("report-jobs", "report-{title}")
async def report_jobs(
    settings: ConnectionSettings,
    team: int | str,
    project: int | str | None,
    job_filter: JobFilter,
    title: str,
    report_dir: str | None = None,
) -> PublishedReport:
    """Report on existing jobs chosen by a filter (one job listing) and publish it like a round's report.

    Args:
        settings: the connection.
        team: the team's id or name.
        project: a project's id or name within the team (None: every project).
        job_filter: which jobs (round, status, labeler).
        title: the report's title; artifact keys and CSV names derive from it.
        report_dir: directory for the CSV files (None: no files).
    """
    async with SuperviselyClient(settings) as api:
        built = report.build_report(await selection.find_team_jobs(api, team, project, job_filter))
    return await publish(built, title, report_dir)
