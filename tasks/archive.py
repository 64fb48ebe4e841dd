"""Task: the round's end action (archive, stop or keep) on its finished jobs."""

from __future__ import annotations

from prefect import get_run_logger

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import EndAction, TargetStatus
from labelrounds.steps import archive
from labelrounds.steps.archive import EndResult
from tasks.options import api_task


@api_task("archive-jobs", "{action}-jobs-team-{team_id}")
async def archive_jobs(
    settings: ConnectionSettings, team_id: int, job_ids: list[int], action: EndAction, target: TargetStatus
) -> EndResult:
    """Archive or stop (or keep) the jobs that reached the target status; unfinished jobs are left alone.

    Args:
        settings: the connection.
        team_id: the round's team.
        job_ids: every job of the round.
        action: archive, stop or keep.
        target: the status a finished job has reached.
    """
    async with SuperviselyClient(settings) as api:
        result = await archive.finish_jobs(api, team_id, job_ids, action, target)
    get_run_logger().info("end: %s", result.summary())
    return result
